"""Audited pages in Chromium (config/asked_here.py): a breach scope linked from another site,
or from a model's answer on Steward's own page, or followed through the sign-in page, asks
first and runs once asked; Steward's own links and forms run at once."""

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.core.signals import request_started
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from governance.roles import Role
from tests.browser.conftest import sign_in
from tests.factories import make_backend, make_done_answer, make_user

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
#: Another site: Playwright answers for it, so no name needs to resolve. Its links to the
#: live server (on 127.0.0.1) are cross-site.
ELSEWHERE = "http://mail.elsewhere.test/"
QUESTION = "This address was not opened from a Steward page"


def _scopes() -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.BREACH_SCOPED).count()


@pytest.fixture
def sent_from() -> list[str]:
    """What the live server was told of where each request for a breach scope came from
    (Playwright does not show the ``Sec-Fetch-*`` headers Chromium's network layer adds)."""
    seen: list[str] = []

    def note(environ, **kwargs) -> None:
        if environ.get("PATH_INFO") == "/privacy/breach/" and environ.get("QUERY_STRING"):
            seen.append(environ.get("HTTP_SEC_FETCH_SITE", "(none)"))

    request_started.connect(note, dispatch_uid="test_audited_links")
    yield seen
    request_started.disconnect(dispatch_uid="test_audited_links")


def _scope_address(backend) -> str:
    end = timezone.localtime()
    query = urlencode(
        {
            "backend": backend.public_id,
            "start": (end - dt.timedelta(days=1)).isoformat(timespec="minutes"),
            "end": end.isoformat(timespec="minutes"),
        }
    )
    return f"/privacy/breach/?{query}"


def _follow_from_elsewhere(page: Page, href: str) -> None:
    page.route(
        ELSEWHERE,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<!DOCTYPE html><title>Mail</title><a href="{href}">Your report</a>',
        ),
    )
    page.goto(ELSEWHERE)
    page.get_by_role("link", name="Your report").click()


def _asks_then_runs_once(page: Page) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(QUESTION)
    expect(page.get_by_text("It asks Steward to run a breach scope")).to_be_visible()
    assert _scopes() == 0
    page.get_by_role("link", name="Run the breach scope").click()
    expect(page.get_by_role("heading", name="Calls to Cloud")).to_be_visible()
    assert _scopes() == 1


def test_a_breach_scope_linked_from_another_site_runs_only_once_asked(
    page: Page, live_server, sent_from
):
    backend = make_backend(name="Cloud")
    make_user("pia@corp.example", Role.PRIVACY_OFFICER, password=PASSWORD)
    sign_in(page, "pia@corp.example", PASSWORD)

    _follow_from_elsewhere(page, live_server.url + _scope_address(backend))

    _asks_then_runs_once(page)
    assert sent_from == ["cross-site", "same-origin"]


def test_a_link_followed_through_the_sign_in_asks_after_it(page: Page, live_server, sent_from):
    """Signed out (a session ended), the link goes to the sign-in page first; once signed
    in, the browser is sent on from Steward's own page (``same-origin``): it still asks."""
    backend = make_backend(name="Cloud")
    make_user("pia@corp.example", Role.PRIVACY_OFFICER, password=PASSWORD)

    _follow_from_elsewhere(page, live_server.url + _scope_address(backend))
    page.fill("input[name=login]", "pia@corp.example")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    _asks_then_runs_once(page)
    assert sent_from[-2:] == ["same-origin", "same-origin"]


def test_a_link_in_a_models_answer_asks_first(page: Page, live_server, sent_from):
    """An answer can carry a link to Steward's own audited address (a prompt injection):
    clicked on the conversation's page, the browser says ``same-origin``; it asks."""
    backend = make_backend(name="Cloud")
    pia = make_user("pia@corp.example", Role.PRIVACY_OFFICER, Role.STAFF, password=PASSWORD)
    target = live_server.url + _scope_address(backend)
    answer = make_done_answer(pia, f"Here is [your summary]({target}).")
    sign_in(page, "pia@corp.example", PASSWORD)
    page.goto(f"/chat/c/{answer.conversation.public_id}/")

    page.get_by_role("link", name="your summary").click()

    _asks_then_runs_once(page)
    assert sent_from == ["same-origin", "same-origin"]


def test_the_desks_breach_scope_form_runs_at_once(page: Page, live_server):
    make_backend(name="Cloud")
    make_user("pia@corp.example", Role.PRIVACY_OFFICER, password=PASSWORD)
    sign_in(page, "pia@corp.example", PASSWORD)
    page.goto("/privacy/")

    page.get_by_role("link", name="Breach scope").click()
    page.get_by_label("Backend").select_option(label="Cloud")
    page.get_by_role("button", name="Show the scope").click()

    expect(page.get_by_role("heading", name="Calls to Cloud")).to_be_visible()
    assert _scopes() == 1


def test_the_conversations_export_downloads_at_once(page: Page, live_server):
    ann = make_user("ann@corp.example", Role.STAFF, password=PASSWORD)
    answer = make_done_answer(ann, "Done.")
    sign_in(page, "ann@corp.example", PASSWORD)
    page.goto(f"/chat/c/{answer.conversation.public_id}/")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export Markdown").click()

    assert download.value.suggested_filename.endswith(".md")
    exported = AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_EXPORTED)
    assert exported.count() == 1
