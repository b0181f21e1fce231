"""WCAG 2.4.11 Focus Not Obscured: tabbing through a conversation never puts the focus wholly
under the message box stuck to the screen's bottom.

From 821 px wide the box sticks to the bottom. With a preview under it ("Will be
pseudonymised" and its reasons) it stands 200-270 px tall, more than the fixed 12rem the
page kept clear below a focused control: on a 1024x640 screen, tabbing down a thread of short
turns brought each "What the model saw" and "… replaced" badge into focus under the box.
"""

import pytest
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD
from tests.browser.conftest import sign_in, watch_console
from tests.browser.test_chat import STAFF
from tests.chat.test_views import _answered

pytestmark = pytest.mark.browser

SHORT_WINDOW = {"width": 1024, "height": 640}
#: A name with a title, an email address and a phone number: the longest preview.
PSEUDONYMISED = "Mail Ms Jane Roe at jane@example.org or +44 20 7946 0958"

#: The focused element, and whether the message box covers it whole (null: the box's own
#: controls, or nothing focused). Each element is marked, so a second visit ends the round.
FOCUSED = """() => {
  const focused = document.activeElement;
  const box = document.getElementById("composer");
  if (!focused || focused === document.body || box.contains(focused)) return null;
  const seen = focused.hasAttribute("data-tabbed");
  focused.setAttribute("data-tabbed", "");
  const f = focused.getBoundingClientRect(), b = box.getBoundingClientRect();
  return {
    what: `${focused.tagName} ${focused.textContent.trim().slice(0, 30)}`,
    seen: seen,
    hidden: f.top >= b.top && f.bottom <= b.bottom && f.left >= b.left && f.right <= b.right,
  };
}"""


@pytest.fixture
def conversation(org):
    """Alice's thread of six short pseudonymised questions and their short answers: a
    summary, a badge link and a Copy every few lines."""
    conversation = None
    for number in range(6):
        conversation, question, _ = _answered(
            org.alice,
            org.internal,
            f"Write to Mr John Smith at [EMAIL_1] about item {number}.",
            "Here is a short note for him.",
            conversation=conversation,
        )
        question.decision = "pseudonymised"
        question.replaced = {"EMAIL_ADDRESS": 1, "PERSON": 1}
        question.sent_text = question.content.replace("Mr John Smith", "[PERSON_1]")
        question.save(update_fields=["decision", "replaced", "sent_sealed"])
    return conversation


def _tab_round(page: Page) -> list[dict]:
    """Tab once round the whole page; each element focused, outside the box."""
    focused = []
    for _ in range(200):
        page.keyboard.press("Tab")
        row = page.evaluate(FOCUSED)
        if row is None:
            continue
        if row["seen"]:
            return focused
        focused.append(row)
    pytest.fail("the focus never came round again")


def test_no_control_is_focused_wholly_under_the_message_box(
    org, conversation, new_asgi_context, console_errors
):
    page = watch_console(new_asgi_context(viewport=SHORT_WINDOW).new_page(), console_errors)
    sign_in(page, STAFF, DEMO_PASSWORD)
    page.goto(f"/chat/c/{conversation.public_id}/")
    page.get_by_label("Message").fill(PSEUDONYMISED)
    expect(page.locator("#preview .preview-pseudonymised")).to_be_visible()
    box_height = page.locator("#composer").bounding_box()["height"]
    assert box_height > 192, "the box no taller than the old 12rem tests nothing"

    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    focused = _tab_round(page)

    assert len(focused) > 20, focused  # the whole thread, not just the top bar
    assert [row["what"] for row in focused if row["hidden"]] == []
    assert console_errors == []
