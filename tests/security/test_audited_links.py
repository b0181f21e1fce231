"""Audited GET pages run only when asked for from Steward itself (config/fetch_site.py).

A link on another site opens them with the signed-in person's session (the cookie is
``SameSite=Lax``): from there they get a page that asks first, and the trail records
nothing they did not ask for. ``Sec-Fetch-Site: same-origin`` (Steward's own pages),
``none`` (the address bar) and no header at all run them as before.
"""

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import RequestFactory
from django.urls import resolve, reverse
from django.utils import timezone

from audit.models import AuditEvent
from config.fetch_site import same_address
from governance.models import Backend
from governance.roles import Role
from privacy.models import SubjectRequest
from tests.chat.conftest import external_llm, local_llm, org  # noqa: F401  (fixtures)
from tests.factories import make_backend, make_category, make_user
from tests.privacy.conftest import make_conversation, officers  # noqa: F401  (a fixture)
from tests.privacy.test_archive_withhold import copy  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action
CONFIRM_HEADING = "This link came from another site"


def _window() -> dict:
    end = timezone.localtime()
    return {
        "backend": str(Backend.objects.get(name="Cloud").public_id),
        "start": (end - dt.timedelta(days=1)).isoformat(),
        "end": end.isoformat(),
    }


def _breach(request, *, csv: bool = False):
    make_backend(name="Cloud")
    officer = make_user("pia@corp.example", Role.PRIVACY_OFFICER)
    name = "privacy:breach_csv" if csv else "privacy:breach"
    return officer, reverse(name), _window()


def _answer(request, name: str):
    """The completed access request of tests.privacy.test_archive_withhold, its receipt
    written; read by an officer it is not about."""
    subject_request = request.getfixturevalue("copy")
    SubjectRequest.objects.filter(pk=subject_request.pk).update(receipt_hash="0" * 64)
    officer = request.getfixturevalue("officers")[1]
    return officer, reverse(name, args=[subject_request.public_id]), {}


def _chat_export(request):
    author = make_user("ann@corp.example", Role.STAFF)
    conversation = make_conversation(author, make_category(number=2, slug="internal"))
    return author, reverse("chat:export", args=[conversation.public_id, "md"]), {}


def _auditor(name: str, query: dict | None = None, args=()):
    def build(request):
        auditor = make_user("rita@corp.example", Role.AUDITOR)
        return auditor, reverse(name, args=args), query or {}

    return build


#: Every audited GET: how to reach it (who, where, with what query), the action it records,
#: and whether it answers with a file.
AUDITED = {
    "breach scope": (_breach, Action.BREACH_SCOPED, False),
    "breach scope CSV": (lambda request: _breach(request, csv=True), Action.BREACH_SCOPED, True),
    "request receipt": (
        lambda request: _answer(request, "privacy:request_receipt"),
        Action.DSR_DOWNLOADED,
        True,
    ),
    "request archive": (
        lambda request: _answer(request, "privacy:request_archive"),
        Action.DSR_DOWNLOADED,
        True,
    ),
    "archive mentions": (
        lambda request: _answer(request, "privacy:request_check_copy"),
        Action.DSR_DOWNLOADED,
        False,
    ),
    "audit export": (
        _auditor("audit:export", {"action": Action.LOGIN}, args=["csv"]),
        Action.AUDIT_EXPORTED,
        True,
    ),
    "checkpoints file": (_auditor("audit:checkpoints_file"), Action.AUDIT_EXPORTED, True),
    "compliance report file": (
        _auditor("audit:report", {"format": "csv"}),
        Action.REPORT_EXPORTED,
        True,
    ),
    "conversation export": (_chat_export, Action.CHAT_EXPORTED, True),
    "training report CSV": (
        _auditor("training:report_csv"),
        Action.TRAINING_REPORT_EXPORTED,
        True,
    ),
}


@pytest.fixture(params=list(AUDITED))
def audited(request, client):
    """A client signed in as someone the view is for, its address and query, the action it
    records, and whether it answers with a file."""
    build, action, is_file = AUDITED[request.param]
    user, path, query = build(request)
    client.force_login(user)  # the sign-in is an event too: before the count
    return client, path, query, action, is_file


def _newest() -> int:
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0


def _new_events(since: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(sequence__gt=since)
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def _confirm_link(response) -> str:
    """The href of the confirmation page's button."""
    found = re.search(r'<a class="button button-primary" href="([^"]*)"', response.content.decode())
    assert found, response.content.decode()
    return html.unescape(found.group(1))


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_link_from_another_site_asks_first(audited, site):
    client, path, query, _, _ = audited
    before = _newest()

    response = client.get(path, query, HTTP_SEC_FETCH_SITE=site)

    assert response.status_code == 200
    assert "Content-Disposition" not in response
    assert response["Content-Type"].startswith("text/html")
    assert CONFIRM_HEADING in response.content.decode()
    assert _new_events(before) == []


@pytest.mark.parametrize("site", ["same-origin", "none", None])
def test_from_steward_or_the_address_bar_it_runs_as_before(audited, site):
    client, path, query, action, is_file = audited
    before = _newest()
    headers = {"HTTP_SEC_FETCH_SITE": site} if site else {}

    response = client.get(path, query, **headers)

    assert response.status_code == 200
    assert CONFIRM_HEADING not in (b"" if is_file else response.content).decode()
    assert ("attachment" in response.get("Content-Disposition", "")) == is_file
    assert _new_events(before) == [action]


def test_the_confirmation_links_to_the_same_address(audited):
    client, path, query, action, _ = audited
    response = client.get(path, query, HTTP_SEC_FETCH_SITE="cross-site")

    link = urlsplit(_confirm_link(response))

    assert not link.scheme and not link.netloc
    assert link.path == path
    assert parse_qs(link.query) == {name: [str(value)] for name, value in query.items()}
    # Followed from the page, the browser says it comes from Steward: it runs.
    before = _newest()
    again = client.get(_confirm_link(response), HTTP_SEC_FETCH_SITE="same-origin")
    assert again.status_code == 200 and _new_events(before) == [action]


# --- pages that record nothing are left alone --------------------------------------------------


def test_the_empty_breach_form_opens_from_anywhere(client):
    client.force_login(make_user("pia@corp.example", Role.PRIVACY_OFFICER))

    response = client.get(reverse("privacy:breach"), HTTP_SEC_FETCH_SITE="cross-site")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Show the scope" in page and CONFIRM_HEADING not in page


def test_the_compliance_report_page_opens_from_anywhere(client):
    client.force_login(make_user("rita@corp.example", Role.AUDITOR))
    before = _newest()

    response = client.get(reverse("audit:report"), HTTP_SEC_FETCH_SITE="cross-site")

    assert response.status_code == 200
    assert CONFIRM_HEADING not in response.content.decode()
    assert _new_events(before) == []


def test_a_visitor_without_the_role_is_refused_as_before(client):
    client.force_login(make_user("otto@corp.example"))

    response = client.get(reverse("audit:checkpoints_file"), HTTP_SEC_FETCH_SITE="cross-site")

    assert response.status_code == 403


def test_anonymous_visitors_go_to_the_login_page_as_before(client):
    response = client.get(reverse("privacy:breach_csv"), HTTP_SEC_FETCH_SITE="cross-site")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- the address it shows and links ------------------------------------------------------------


def test_what_the_query_carries_is_escaped_and_stays_in_the_query(client):
    make_backend(name="Cloud")
    client.force_login(make_user("pia@corp.example", Role.PRIVACY_OFFICER))
    crafted = {"start": '"><script>alert(1)</script>', "end": "javascript:alert(1)"}

    response = client.get(reverse("privacy:breach"), crafted, HTTP_SEC_FETCH_SITE="cross-site")

    page = response.content.decode()
    assert "<script>alert(1)" not in page and '"><script' not in page
    link = _confirm_link(response)
    assert link.startswith("/privacy/breach/?")
    assert parse_qs(urlsplit(link).query) == {name: [value] for name, value in crafted.items()}


def test_a_path_naming_another_host_never_reaches_the_page(client):
    """``//evil.example/…`` would be a link to another site if echoed: Django's resolver
    does not match it to any page (a 404), so no confirmation page shows it."""
    client.force_login(make_user("pia@corp.example", Role.PRIVACY_OFFICER))

    response = client.get(
        "/privacy/breach/",
        {"start": "x"},
        PATH_INFO="//evil.example/privacy/breach/",
        HTTP_SEC_FETCH_SITE="cross-site",
    )

    assert response.status_code == 404
    assert "evil.example" not in response.content.decode()


def test_the_address_is_rebuilt_from_the_page_that_matched():
    """Whatever the request's own path says, the link is the matched page's path on this
    site, with the query re-encoded."""
    request = RequestFactory().get(
        "/privacy/breach/", {"start": "//evil.example/", "end": "https://evil.example/"}
    )
    request.path = request.path_info = "//evil.example/privacy/breach/"
    request.resolver_match = resolve("/privacy/breach/")

    address = same_address(request)

    assert (
        address == "/privacy/breach/?start=%2F%2Fevil.example%2F&end=https%3A%2F%2Fevil.example%2F"
    )
