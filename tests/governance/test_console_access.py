"""The matrix for every console endpoint: who gets what, which methods, htmx fragments."""

import pytest

from governance.models import DetectionRule, ProtectedTermList
from tests.factories import make_backend, make_category
from tests.governance.console import HTMX

BACKEND_ID = "00000000-0000-4000-8000-0000000000b1"
RULE_ID = "00000000-0000-4000-8000-0000000000a1"
TERMS_ID = "00000000-0000-4000-8000-0000000000c1"

# path -> (methods allowed, partial root id an htmx GET answers with; None = POST only)
PAGES = {
    "/policy/backends/new/": "backend-form",
    f"/policy/backends/{BACKEND_ID}/": "backend-form",
    "/policy/approvals/": "approvals-panel",
    "/policy/clearances/": "clearances-panel",
    "/policy/categories/new/": "category-form",
    "/policy/categories/public/": "category-form",
    "/policy/rules/new/": "rule-form",
    f"/policy/rules/{RULE_ID}/": "rule-form",
    "/policy/term-lists/new/": "term-list-form",
    f"/policy/term-lists/{TERMS_ID}/": "term-list-form",
}
LISTS = ["/policy/", "/policy/rules/", "/policy/term-lists/"]
POST_ONLY = [
    f"/policy/backends/{BACKEND_ID}/state/",
    f"/policy/backends/{BACKEND_ID}/delete/",
    f"/policy/approvals/public/{BACKEND_ID}/revoke/",
    "/policy/clearances/revoke/",
    "/policy/categories/public/findings/",
    "/policy/categories/public/state/",
    f"/policy/rules/{RULE_ID}/state/",
    f"/policy/rules/{RULE_ID}/delete/",
    f"/policy/term-lists/{TERMS_ID}/state/",
    f"/policy/term-lists/{TERMS_ID}/delete/",
]
EVERYTHING = [*PAGES, *LISTS, *POST_ONLY]


@pytest.fixture
def objects(db):
    make_category()
    make_backend(public_id=BACKEND_ID)
    DetectionRule.objects.create(
        public_id=RULE_ID, name="Privilege", reason="Legal", pattern="privileged", action="warn"
    )
    terms = ProtectedTermList.objects.create(public_id=TERMS_ID, name="Clients", kind="client")
    terms.set_terms(["Acme"])
    terms.save()


@pytest.mark.parametrize("path", [*PAGES, *LISTS])
def test_it_shows_each_page_to_a_policy_admin(client, admin, objects, path):
    client.force_login(admin)
    response = client.get(path)
    assert response.status_code == 200
    assert b"<html" in response.content


@pytest.mark.parametrize("path", EVERYTHING)
def test_it_sends_anonymous_visitors_to_sign_in(client, objects, path):
    response = client.post(path) if path in POST_ONLY else client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", EVERYTHING)
@pytest.mark.parametrize("persona", ["outsider", "reader", "member"])
def test_it_refuses_everyone_without_the_policy_admin_role(client, objects, path, persona, request):
    client.force_login(request.getfixturevalue(persona))
    if path in POST_ONLY:
        assert client.post(path).status_code == 403
    else:
        assert client.get(path).status_code == 403
    if path in PAGES:
        assert client.post(path).status_code == 403


@pytest.mark.parametrize("path", POST_ONLY)
def test_changes_answer_405_to_get(client, admin, objects, path):
    client.force_login(admin)
    assert client.get(path).status_code == 405


@pytest.mark.parametrize("path", [*PAGES, *LISTS])
def test_pages_refuse_other_methods(client, admin, objects, path):
    client.force_login(admin)
    assert client.put(path).status_code == 405
    assert client.delete(path).status_code == 405


@pytest.mark.parametrize(("path", "partial"), PAGES.items())
def test_htmx_gets_a_fragment(client, admin, objects, path, partial):
    client.force_login(admin)
    response = client.get(path, **HTMX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert f'id="{partial}"'.encode() in response.content


@pytest.mark.parametrize(
    "path",
    [
        "/policy/backends/00000000-0000-4000-8000-000000000000/",
        "/policy/categories/nope/",
        "/policy/rules/00000000-0000-4000-8000-000000000000/",
        "/policy/term-lists/00000000-0000-4000-8000-000000000000/",
    ],
)
def test_unknown_objects_are_404(client, admin, objects, path):
    client.force_login(admin)
    assert client.get(path).status_code == 404


def test_list_pages_keep_their_query_counts(
    client, admin, member, objects, django_assert_num_queries
):
    """Counts hold whatever the number of rows: three more of everything changes nothing."""
    from django.contrib.auth.models import Group

    from governance.models import Approval, Category, Clearance

    staff = Group.objects.get(name="Staff")
    for number in (2, 3):
        category = make_category(number=number, slug=f"level-{number}", name=f"Level {number}")
        DetectionRule.objects.create(
            name=f"Rule {number}", reason="r", pattern="x", action="escalate", min_category=category
        )
        ProtectedTermList.objects.create(name=f"List {number}", kind="staff")
    for i, category in enumerate(Category.objects.all()):
        backend = make_backend(name=f"Backend {i}", base_url=f"http://10.0.0.{i}:11434")
        Approval.objects.create(category=category, backend=backend, approved_by=admin)
        Clearance.objects.create(category=category, group=staff, granted_by=admin)
        Clearance.objects.create(category=category, user=member, granted_by=admin)
    client.force_login(admin)
    # 3 to load the session, user and permissions; 3 to save the session, on the first
    # request only (the idle window moves once a minute); the rest the page's.
    for path, queries in {
        "/policy/": 12,
        "/policy/approvals/": 6,
        "/policy/clearances/": 7,  # no longer every active person, for a select
        "/policy/rules/": 4,
        "/policy/term-lists/": 4,
    }.items():
        with django_assert_num_queries(queries):
            assert client.get(path).status_code == 200
