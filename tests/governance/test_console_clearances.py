"""Clearances: a category for a role group or one person; revoke."""

from django.contrib.auth.models import Group

from governance.models import Category, Clearance
from tests.factories import make_category
from tests.governance.console import HTMX, only_event, policy_events


def test_it_clears_a_role_group(client, admin):
    make_category()
    client.force_login(admin)
    response = client.post("/policy/clearances/", {"category": "public", "party": "group:Staff"})
    assert response.status_code == 302
    clearance = Clearance.objects.get()
    assert clearance.group.name == "Staff" and clearance.granted_by == admin
    event = only_event()
    assert event.after == {"category": 1, "group": "Staff"} and event.before is None


def test_it_clears_one_person_and_they_see_the_category(client, admin, member):
    make_category()
    client.force_login(admin)
    response = client.post(
        "/policy/clearances/", {"category": "public", "party": f"user:{member.public_id}"}, **HTMX
    )
    assert response.status_code == 200
    assert b"<html" not in response.content and b'id="clearances-panel"' in response.content
    assert b"may now use Public" in response.content
    assert list(Category.objects.cleared_for(member)) == [Category.objects.get()]
    assert only_event().after["user_email"] == "member@example.com"


def test_bad_input_is_explained_and_nothing_saved(client, admin):
    category = make_category()
    Clearance.objects.create(category=category, group=Group.objects.get(name="Staff"))
    client.force_login(admin)
    response = client.post("/policy/clearances/", {"category": "public", "party": "group:Staff"})
    assert response.status_code == 422
    assert b"Staff is already cleared for Public." in response.content
    for party in ("group:Root", "nobody@example.com", "Root", "user:not-a-uuid"):
        response = client.post("/policy/clearances/", {"category": "public", "party": party})
        assert response.status_code == 422
        assert "No group and no active person is “" + party in response.content.decode()
    assert Clearance.objects.count() == 1
    assert policy_events() == []


def test_revoking_asks_first_and_is_recorded(client, admin, member):
    category = make_category()
    Clearance.objects.create(category=category, user=member)
    client.force_login(admin)
    page = client.get("/policy/clearances/").content.decode()
    assert 'data-confirm="Revoke Max Member\'s clearance for Public?"' in page
    response = client.post(
        "/policy/clearances/revoke/",
        {"category": "public", "party": f"user:{member.public_id}"},
        **HTMX,
    )
    assert response.status_code == 200 and b"<html" not in response.content
    assert Clearance.objects.count() == 0
    event = only_event()
    assert event.before == {
        "category": 1,
        "user": str(member.public_id),
        "user_email": "member@example.com",
    }
    assert event.after is None


def test_revoking_without_js_redirects(client, admin):
    category = make_category()
    Clearance.objects.create(category=category, group=Group.objects.get(name="Staff"))
    client.force_login(admin)
    response = client.post(
        "/policy/clearances/revoke/", {"category": "public", "party": "group:Staff"}
    )
    assert response.status_code == 302
    assert Clearance.objects.count() == 0


def test_revoking_an_unknown_clearance_is_404(client, admin, member):
    make_category()
    client.force_login(admin)
    parties = ["group:Staff", f"user:{member.public_id}", "user:not-a-uuid", "nobody", "", " "]
    for party in [*parties, member.email, "user:", "group:"]:
        response = client.post("/policy/clearances/revoke/", {"category": "public", "party": party})
        assert response.status_code == 404
    Clearance.objects.create(category=make_category(number=2, slug="other"), user=member)
    for category in ("nope", ""):
        response = client.post(
            "/policy/clearances/revoke/", {"category": category, "party": member.email}
        )
        assert response.status_code == 404
    assert policy_events() == []


def test_revoking_names_the_party_as_the_form_does(client, admin, member):
    """The form takes a group's bare name or a person's email address; revoking took only
    the buttons' ``group:``/``user:``. Both now go through one resolver."""
    category = make_category()
    Clearance.objects.create(category=category, group=Group.objects.get(name="Staff"))
    Clearance.objects.create(category=category, user=member)
    client.force_login(admin)
    for party in ("staff", " Member@Example.com "):
        response = client.post("/policy/clearances/revoke/", {"category": "public", "party": party})
        assert response.status_code == 302
    assert not Clearance.objects.exists() and len(policy_events()) == 2


def test_a_deactivated_persons_clearance_is_still_revoked(client, admin, member):
    """Deactivating someone keeps their clearances, listed with a revoke button: it works."""
    category = make_category()
    Clearance.objects.create(category=category, user=member)
    member.is_active = False
    member.save()
    client.force_login(admin)
    for party in (f"user:{member.public_id}", member.email):
        Clearance.objects.get_or_create(category=category, user=member)
        response = client.post("/policy/clearances/revoke/", {"category": "public", "party": party})
        assert response.status_code == 302 and not Clearance.objects.exists()


def test_a_clearance_granted_twice_at_once_is_refused_in_words_not_a_500(
    client, admin, monkeypatch
):
    """Two admins granting the same clearance at once both find none yet; the second's
    insert meets the first's row. It is told so, and records nothing."""
    from django.db.models import QuerySet

    category = make_category()
    Clearance.objects.create(category=category, group=Group.objects.get(name="Staff"))
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # checked before the first's commit
    client.force_login(admin)
    response = client.post("/policy/clearances/", {"category": "public", "party": "group:Staff"})
    assert response.status_code == 422
    assert b"Staff is already cleared for Public." in response.content
    assert Clearance.objects.count() == 1 and not policy_events()


def test_nobody_is_cleared_for_a_category_that_is_never_sent(client, admin, member):
    """Clearing someone for Prohibited succeeded, and their dashboard then listed it under
    "Categories you may use": no model ever receives it, whoever sends it."""
    prohibited = make_category(number=4, slug="prohibited", name="Prohibited")
    sealed = make_category(number=2, slug="sealed", name="Sealed", blocks_all=True)
    client.force_login(admin)
    form = client.get("/policy/clearances/").content.decode()
    assert 'value="prohibited"' not in form and 'value="sealed"' not in form
    for category in (prohibited, sealed):
        response = client.post(
            "/policy/clearances/", {"category": category.slug, "party": "group:Staff"}
        )
        assert response.status_code == 422
    assert Clearance.objects.count() == 0 and policy_events() == []
    Clearance.objects.create(category=prohibited, user=member)  # granted before this rule
    client.force_login(member)
    dashboard = client.get("/").content.decode()
    assert "Categories you may use" in dashboard and "Prohibited" not in dashboard


def test_a_person_is_named_by_email_and_a_group_by_name_as_typed(client, admin, member):
    """The page lists no one: a select of every active person grew with the company (228 KB
    at 2,000 people). The groups are offered as suggestions."""
    make_category()
    client.force_login(admin)
    page = client.get("/policy/clearances/").content.decode()
    assert member.email not in page
    assert '<datalist id="clearance-groups">' in page and '<option value="Staff">' in page
    client.post("/policy/clearances/", {"category": "public", "party": " Member@Example.com "})
    client.post("/policy/clearances/", {"category": "public", "party": "staff"})
    cleared = {(c.user, c.group and c.group.name) for c in Clearance.objects.all()}
    assert cleared == {(member, None), (None, "Staff")}


def test_an_inactive_person_cannot_be_cleared(client, admin, member):
    make_category()
    member.is_active = False
    member.save()
    client.force_login(admin)
    response = client.post("/policy/clearances/", {"category": "public", "party": member.email})
    assert response.status_code == 422 and not Clearance.objects.exists()
