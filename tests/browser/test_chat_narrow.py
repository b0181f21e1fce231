"""The conversation page on a narrow phone, in a real browser on uvicorn: nothing wider
than the screen, however long a turn's badges, and no keyboard shortcut offered.

A message with an email address, a name and a phone number replaced has the badge "1 email
address, 1 person's name, 1 phone number replaced": kept on one line it widened the page to
~480px on a 390px phone, cutting off the Send button and the turns' labels.
"""

import pytest
from playwright.sync_api import Page, expect

from chat.models import Message
from governance.demo import DEMO_PASSWORD
from tests.browser.conftest import DESKTOP, PHONE, sign_in, watch_console
from tests.browser.test_chat import STAFF
from tests.chat.test_views import _answered

pytestmark = pytest.mark.browser

LONG_BADGE = "1 email address, 1 person's name, 1 phone number replaced"
SMALL_PHONE = {"width": 320, "height": 640}
BLOCKED = (
    "Blocked: Health information is sensitive personal data and may not be sent to a model "
    "(rule “Health information”)."
)


@pytest.fixture
def conversation(org):
    """Alice's conversation: a question with three kinds of value replaced, its answer, and
    a blocked message after them."""
    conversation, question, _ = _answered(
        org.alice,
        org.internal,
        "Write to Mr John Smith at [EMAIL_1] or call him on [PHONE_1] about the renewal.",
        "Here is a short note for him.",
    )
    question.decision = "pseudonymised"
    question.replaced = {"EMAIL_ADDRESS": 1, "PERSON": 1, "PHONE_NUMBER": 1}
    question.save(update_fields=["decision", "replaced"])
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.USER,
        status=Message.Status.BLOCKED,
        category_number=org.internal.number,
        decision="blocked",
        reasons=[BLOCKED],
        chars=40,
    )
    return conversation


def _open(new_asgi_context, console_errors, viewport: dict, conversation) -> Page:
    page = watch_console(new_asgi_context(viewport=viewport).new_page(), console_errors)
    sign_in(page, STAFF, DEMO_PASSWORD)
    page.goto(f"/chat/c/{conversation.public_id}/")
    return page


@pytest.mark.parametrize("viewport", [PHONE, SMALL_PHONE], ids=["390", "320"])
def test_it_keeps_the_conversation_within_a_phones_width(
    org, conversation, new_asgi_context, console_errors, viewport
):
    page = _open(new_asgi_context, console_errors, viewport, conversation)
    badge = page.locator(".turn-badges .badge", has_text=LONG_BADGE)
    expect(badge).to_be_visible()

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{width}px wide on a {viewport['width']}px phone"
    # The badge wraps inside the thread, and what was cut off is whole on the screen.
    box = badge.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    assert box["height"] > 30  # two lines
    for element in (
        page.get_by_role("button", name="Send"),
        page.locator(".turn-user .turn-who").first,
        page.locator(".turn-badges .badge-danger", has_text="blocked"),
    ):
        element.scroll_into_view_if_needed()
        expect(element).to_be_in_viewport(ratio=1)
    assert console_errors == []


def test_the_keyboard_shortcut_is_offered_only_where_there_is_a_keyboard(
    org, conversation, new_asgi_context, console_errors
):
    """A phone has no Ctrl+Enter to press: its message box just says what it is for."""
    desktop = _open(new_asgi_context, console_errors, DESKTOP, conversation)
    expect(desktop.get_by_label("Message")).to_have_attribute(
        "placeholder", "Write a message. Ctrl+Enter sends."
    )
    phone = _open(new_asgi_context, console_errors, PHONE, conversation)
    expect(phone.get_by_label("Message")).to_have_attribute("placeholder", "Write a message.")
    assert console_errors == []
