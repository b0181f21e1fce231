"""A breach scope linked from another site: Chromium says where the link was (the
``Sec-Fetch-Site`` header), so Steward asks first, and runs it once asked from its own page
(config/fetch_site.py)."""

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.core.signals import request_started
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from governance.roles import Role
from tests.browser.conftest import sign_in
from tests.factories import make_backend, make_user

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
#: Another site: Playwright answers for it, so no name needs to resolve. Its links to the
#: live server (on 127.0.0.1) are cross-site.
ELSEWHERE = "http://mail.elsewhere.test/"


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


def test_a_breach_scope_linked_from_another_site_runs_only_once_asked(
    page: Page, live_server, sent_from
):
    backend = make_backend(name="Cloud")
    make_user("pia@corp.example", Role.PRIVACY_OFFICER, password=PASSWORD)
    sign_in(page, "pia@corp.example", PASSWORD)
    end = timezone.localtime()
    query = urlencode(
        {
            "backend": backend.public_id,
            "start": (end - dt.timedelta(days=1)).isoformat(timespec="minutes"),
            "end": end.isoformat(timespec="minutes"),
        }
    )
    link = f"{live_server.url}/privacy/breach/?{query}"
    page.route(
        ELSEWHERE,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<!DOCTYPE html><title>Mail</title><a href="{link}">Your report</a>',
        ),
    )
    page.goto(ELSEWHERE)

    page.get_by_role("link", name="Your report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This link came from another site")
    expect(page.get_by_text("It asks Steward to run a breach scope")).to_be_visible()
    assert _scopes() == 0

    page.get_by_role("link", name="Run the breach scope").click()
    expect(page.get_by_role("heading", name="Calls to Cloud")).to_be_visible()
    assert _scopes() == 1
    assert sent_from == ["cross-site", "same-origin"]
