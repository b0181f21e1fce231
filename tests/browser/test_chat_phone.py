"""The message box on a phone, in a real browser on uvicorn: in view with the newest answer.

Below 821px the box is in the page's flow under the thread (not stuck to the screen's
bottom); following the newest turn used to leave it just below the fold.
"""

import pytest
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD
from tests.browser.conftest import DESKTOP, PHONE, sign_in, watch_console
from tests.browser.test_chat import STAFF, send, shoot
from tests.chat.test_views import _answered

pytestmark = pytest.mark.browser

ANSWER = "\n\n".join(
    [
        "Here is a summary of the open points for the renewal:",
        "1. The March invoice was paid in full; the credit note is outstanding.\n"
        "2. Rates stay until the end of the quarter, then the new price list applies.\n"
        "3. The Leeds warehouse closes early on Fridays.",
        "Ask them to confirm the delivery address for the next shipment.",
    ]
)


@pytest.fixture
def open_page(org, answers_on_threads, new_asgi_context, console_errors):
    def open_signed_in(viewport: dict) -> Page:
        page = watch_console(new_asgi_context(viewport=viewport).new_page(), console_errors)
        sign_in(page, STAFF, DEMO_PASSWORD)
        return page

    return open_signed_in


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_conversation_opens_with_the_newest_answer_and_the_message_box_in_view(
    org, open_page, console_errors, viewport
):
    conversation, first, _ = _answered(org.alice, org.internal, "Question 0", ANSWER)
    for n in range(1, 5):
        _, _, last = _answered(
            org.alice, org.internal, f"Question {n}", ANSWER, conversation=conversation
        )
    page = open_page(viewport)
    page.goto(f"/chat/c/{conversation.public_id}/")
    expect(page.locator(f"#turn-{last.public_id} .turn-actions")).to_be_in_viewport(ratio=1)
    expect(page.locator("#composer")).to_be_in_viewport(ratio=1)
    expect(page.locator(f"#turn-{first.public_id}")).not_to_be_in_viewport()
    shoot(page, f"{'phone' if viewport == PHONE else 'desktop'}-opened", full_page=False)
    assert console_errors == []


def test_on_a_phone_the_message_box_stays_in_view_under_an_answer_as_it_comes(
    org, open_page, console_errors
):
    conversation, _, _ = _answered(org.alice, org.internal, "Question 0", ANSWER)
    for n in range(1, 3):
        _answered(org.alice, org.internal, f"Question {n}", ANSWER, conversation=conversation)
    org.external.reply = ["Here are the points:\n\n"] + [f"- point {n}\n" for n in range(1, 9)]
    org.external.delay = 0.1
    page = open_page(PHONE)
    page.goto(f"/chat/c/{conversation.public_id}/")
    send(page, "And the points for the next meeting?")
    answer = page.locator("#message-list > .turn-assistant").last
    expect(answer).to_contain_text("point 3")
    expect(page.locator("#composer")).to_be_in_viewport(ratio=1)
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer.locator(".turn-actions")).to_be_in_viewport(ratio=1)
    expect(page.locator("#composer")).to_be_in_viewport(ratio=1)
    expect(page.get_by_label("Message")).to_be_focused()
    shoot(page, "phone-answered", full_page=False)
    assert console_errors == []
