"""The REST lists come in pages: a client follows ``next`` until it is null."""

import datetime as dt

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from governance.models import Approval, Clearance, DetectionRule, ProtectedTermList
from governance.roles import Role
from privacy.models import LegalHold, PurgeRun, SubjectRequest
from tests.api.test_rest import _client_of
from tests.factories import make_backend, make_category, make_user

AT = timezone.now() - dt.timedelta(days=3)  # one moment for every row: the order needs a tie-break


def _categories(n: int) -> list:
    return [make_category(number=i, slug=f"c{i}", name=f"Category {i}") for i in range(1, n + 1)]


def _people(n: int) -> list:
    return [make_user(f"p{i}@example.com", Role.STAFF) for i in range(n)]


def _approvals(n: int) -> list:
    public = make_category()
    return [
        Approval.objects.create(category=public, backend=make_backend(name=f"Backend {i}"))
        for i in range(n)
    ]


def _clearances(n: int) -> list:
    public = make_category()
    return Clearance.objects.bulk_create(Clearance(category=public, user=p) for p in _people(n))


MAKE = {
    "categories": _categories,
    "backends": lambda n: [make_backend(name=f"Backend {i}") for i in range(n)],
    "approvals": _approvals,
    "clearances": _clearances,
    "rules": lambda n: [
        DetectionRule.objects.create(name=f"Rule {i}", reason="x", pattern="p", action="warn")
        for i in range(n)
    ],
    "term-lists": lambda n: [
        ProtectedTermList.objects.create(name=f"List {i}", kind="client") for i in range(n)
    ],
    "requests": lambda n: SubjectRequest.objects.bulk_create(
        SubjectRequest(
            reference=f"DSR-{i:04}",
            kind=SubjectRequest.Kind.ERASURE,
            regime=SubjectRequest.Regime.GDPR,
            received_on=AT.date(),
            due_on=AT.date() + dt.timedelta(days=30),
            created_at=AT,
        )
        for i in range(n)
    ),
    "holds": lambda n: LegalHold.objects.bulk_create(
        LegalHold(user=person, reason=f"Case {i}", placed_at=AT)
        for i, person in enumerate(_people(n))
    ),
    "purges": lambda n: PurgeRun.objects.bulk_create(
        PurgeRun(status=PurgeRun.Status.DONE, started_at=AT) for _ in range(n)
    ),
}
PATHS = {
    name: f"/api/{'privacy' if name in ('requests', 'holds', 'purges') else 'governance'}/{name}/"
    for name in MAKE
}


@pytest.fixture
def client(db):
    return _client_of(make_user("desk@example.com", Role.POLICY_ADMIN, Role.PRIVACY_OFFICER))


def _follow(client, url: str) -> tuple[list, int]:
    """Every row of a list, page after page; and how many pages it took."""
    rows, pages = [], 0
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.content
        body = page.json()
        rows += body["results"]
        pages += 1
        url = body["next"]
    return rows, pages


@pytest.mark.parametrize("name", MAKE)
def test_every_list_comes_in_pages_that_together_hold_every_row_once(client, name):
    MAKE[name](5)
    rows, pages = _follow(client, f"{PATHS[name]}?page_size=2")
    assert pages == 3
    assert len({repr(sorted(row.items())) for row in rows}) == len(rows) == 5


@pytest.mark.parametrize("name", ["clearances", "requests", "holds", "purges"])
def test_a_page_holds_a_hundred_rows_and_says_how_many_there_are(client, name):
    MAKE[name](101)
    first = client.get(PATHS[name]).json()
    assert (first["count"], len(first["results"]), first["previous"]) == (101, 100, None)
    last = client.get(first["next"]).json()
    assert (len(last["results"]), last["next"]) == (1, None)
    assert client.get(PATHS[name], {"page_size": 1000}).json()["next"] is None  # up to 500


def test_a_page_past_the_last_is_a_404_that_says_so(client):
    MAKE["purges"](1)
    past = client.get(PATHS["purges"], {"page": 2})
    assert past.status_code == 404
    assert "page" in past.json()["detail"].lower()


#: What Chromium asks for when it opens a page.
BROWSER_ACCEPTS = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_the_schema_and_a_browser_show_the_pages(client):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    listed = schema["paths"]["/api/governance/clearances/"]["get"]
    assert [p["name"] for p in listed["parameters"]] == ["page", "page_size"]
    page = listed["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert sorted(schema["components"]["schemas"][page.rsplit("/", 1)[1]]["properties"]) == [
        "count", "next", "previous", "results"
    ]  # fmt: skip
    MAKE["purges"](3)
    browsed = client.get(PATHS["purges"], {"page_size": 2}, HTTP_ACCEPT=BROWSER_ACCEPTS)
    assert browsed.status_code == 200 and browsed["Content-Type"] == "application/json"
    assert "?page=2" in browsed.json()["next"]


@pytest.mark.parametrize("size", ["0", "-1", "ten", "²", "1.5"])
@pytest.mark.parametrize("name", ["purges", "events"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_refused_in_words(client, name, size):
    """DRF served the default page for these, silently: the client learned nothing."""
    if name == "events":  # keyset pages, for an auditor
        client = _client_of(make_user("reader@example.com", Role.AUDITOR))
    answer = client.get(PATHS.get(name, "/api/audit/events/"), {"page_size": size})
    assert answer.status_code == 400
    assert answer.json() == {"page_size": ["A whole number from 1 to 500."]}
