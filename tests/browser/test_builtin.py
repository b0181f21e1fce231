"""The issue's "done when", in a real browser: Carol starts a confidential conversation and
a real answer streams in from the built-in model (SmolLM2, run in-process); the audit
trail shows it stayed on-premise.

    STEWARD_SCREENSHOTS=/tmp/steward-shots .venv/bin/python -m pytest -m browser -k builtin
"""

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from governance.demo import BUILTIN_NAME, DEMO_PASSWORD
from governance.models import Backend
from tests.browser.conftest import sign_in, watch_console
from tests.browser.test_chat import send, shoot, start_conversation

pytestmark = pytest.mark.browser

CONFIDENTIAL = "carol@example.com"


@pytest.fixture
def page(org, answers_on_threads, new_asgi_context, console_errors) -> Page:
    Backend.objects.filter(name=BUILTIN_NAME).update(enabled=True)  # org switches it off
    page = watch_console(new_asgi_context().new_page(), console_errors)
    sign_in(page, CONFIDENTIAL, DEMO_PASSWORD)
    return page


def test_a_confidential_answer_streams_from_the_built_in_model(org, page: Page, console_errors):
    start_conversation(page, "confidential")
    send(page, "Write a two-sentence reply to Jane Roe confirming her appointment on Friday.")
    answer = page.locator("#message-list > li").last
    expect(answer.get_by_text(f"{BUILTIN_NAME} · on-premise")).to_be_visible(timeout=30_000)
    expect(answer.get_by_role("button", name="Stop")).to_have_count(0, timeout=30_000)
    expect(answer.get_by_role("button", name="Copy")).to_be_visible()
    shoot(page, "builtin-answer")
    assert org.local.requests == [] and org.external.requests == []
    response = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_RESPONSE)
    assert response.backend == BUILTIN_NAME and response.details["hosting_class"] == "on_prem"
    assert response.outcome == AuditEvent.Outcome.SUCCESS
    assert console_errors == []
