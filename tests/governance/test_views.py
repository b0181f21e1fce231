import uuid

from django.core import mail

from governance.models import User
from governance.roles import Role, roles_of

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_users_page_lists_people_and_roles(
    client, admin, member, django_assert_max_num_queries
):
    client.force_login(admin)
    with django_assert_max_num_queries(12):
        response = client.get("/policy/users/")
    assert response.status_code == 200
    assert b"member@example.com" in response.content


def test_the_invitation_form_answers_htmx_with_a_fragment(
    client, admin, django_capture_on_commit_callbacks
):
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/policy/users/", {"email": "new@example.com", "roles": ["staff"]}, **HTMX
        )
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="users-panel"' in response.content
    assert b"new@example.com" in response.content
    assert b"Invitation sent" in response.content
    assert len(mail.outbox) == 1


def test_the_invitation_form_explains_bad_input_and_keeps_it(client, admin, member):
    client.force_login(admin)
    response = client.post(
        "/policy/users/",
        {"email": "Member@Example.com", "full_name": "Kept Name", "roles": []},
        **HTMX,
    )
    assert response.status_code == 422
    assert b"already has an account" in response.content
    assert b"Choose at least one role" in response.content
    assert b'value="Kept Name"' in response.content
    assert User.objects.count() == 2


def test_the_invitation_form_works_without_javascript(client, admin):
    client.force_login(admin)
    response = client.post("/policy/users/", {"email": "plain@example.com", "roles": ["auditor"]})
    assert response.status_code == 302
    assert roles_of(User.objects.get(email="plain@example.com")) == [Role.AUDITOR]


def test_an_unknown_role_is_refused(client, admin):
    client.force_login(admin)
    response = client.post("/policy/users/", {"email": "x@example.com", "roles": ["root"]})
    assert response.status_code == 422
    assert not User.objects.filter(email="x@example.com").exists()


def test_the_user_page_changes_roles(client, admin, member):
    client.force_login(admin)
    response = client.post(f"/policy/users/{member.public_id}/", {"roles": ["staff", "auditor"]})
    assert response.status_code == 302
    assert roles_of(User.objects.get(pk=member.pk)) == [Role.STAFF, Role.AUDITOR]


def test_the_user_page_shows_a_refusal_as_a_message(client, admin):
    client.force_login(admin)
    response = client.post(f"/policy/users/{admin.public_id}/", {"roles": ["staff"]}, follow=True)
    assert b"at least one active policy admin" in response.content
    assert Role.POLICY_ADMIN in roles_of(User.objects.get(pk=admin.pk))


def test_an_htmx_post_is_never_answered_with_a_plain_redirect(client, admin, member):
    client.force_login(admin)
    response = client.post(f"/policy/users/{member.public_id}/", {"active": "0"}, **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/policy/users/{member.public_id}/"


def test_an_unknown_user_is_404(client, admin):
    client.force_login(admin)
    assert client.get(f"/policy/users/{uuid.uuid4()}/").status_code == 404


def test_pages_refuse_the_wrong_method(client, admin, member):
    client.force_login(admin)
    assert client.delete("/policy/users/").status_code == 405
    assert client.post("/policy/").status_code == 405
    assert client.put(f"/policy/users/{member.public_id}/").status_code == 405


def test_the_404_page_is_styled(client, member):
    client.force_login(member)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"couldn" in response.content and b"steward.css" in response.content


def test_the_403_page_names_the_missing_role(client, member):
    client.force_login(member)
    response = client.get("/audit/")
    assert response.status_code == 403
    assert b"Auditor role" in response.content


def test_the_dashboard_shows_each_role_its_sections(client, owner, outsider):
    client.force_login(owner)
    page = client.get("/").content.decode()
    for section in (
        "Categories you may use",
        "Policy administration",
        "Retention windows",
        "Latest events",
    ):
        assert section in page
    client.force_login(outsider)
    page = client.get("/").content.decode()
    assert "no role yet" in page
    assert "Policy administration" not in page


def test_healthz_reports_database_and_cache(client, db):
    response = client.get("/healthz")
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_the_dashboard_lists_a_staff_members_newest_conversations_and_only_theirs(
    client, member, outsider, django_assert_max_num_queries
):
    """It said "No conversations yet" to everyone, whatever they had."""
    import datetime as dt

    from django.utils import timezone

    from chat.models import Conversation
    from tests.factories import make_category

    category = make_category()

    def conversation(owner, title, minutes_ago):
        made = Conversation(owner=owner, category=category)
        made.init_key()
        made.title = title
        made.last_activity_at = timezone.now() - dt.timedelta(minutes=minutes_ago)
        made.save()
        return made

    client.force_login(member)
    assert "No conversations yet" in client.get("/").content.decode()
    mine = [conversation(member, f"Budget question {n}", minutes_ago=n) for n in range(7)]
    theirs = conversation(outsider, "Someone else's plans", minutes_ago=0)
    with django_assert_max_num_queries(12):
        page = client.get("/").content.decode()
    assert "No conversations yet" not in page
    for shown in mine[:5]:
        assert f"/chat/c/{shown.public_id}/" in page and shown.title in page
    assert page.count("Budget question") == 5
    assert page.index("Budget question 0") < page.index("Budget question 4")
    assert "Someone else" not in page and str(theirs.public_id) not in page
    assert "All 7 conversations" in page


def test_the_dashboards_figures_agree_with_their_words(client, owner):
    """ "1 failed sign-ins", "1 active categories": each label takes its figure's number."""
    from tests.factories import make_category

    make_category()
    client.force_login(owner)
    page = client.get("/").content.decode()
    assert '1</span><span class="stat-label">active category</span>' in page
    assert '0</span><span class="stat-label">open requests</span>' in page
    assert '0</span><span class="stat-label">failed sign-ins</span>' in page
