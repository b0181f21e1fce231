"""An accessibility review's findings (WCAG 2.2 AA) that need a browser: names as computed,
reflow at 320 px, contrast, and where focus goes.

What the HTML alone shows is tests/test_a11y_mends.py.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from tests.browser import test_accessibility as accessibility
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

chat_page = accessibility.chat_page  # a new conversation, signed in as Alice
CONTRAST = accessibility.CONTRAST
NARROWEST = {"width": 320, "height": 640}  # WCAG 1.4.10: 1280 px at 400 %


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def test_the_account_menu_keeps_its_name_on_a_phone(demo, new_context):
    """Below 641 px only the avatar's letter shows; the name, hidden with display:none, left
    the menu's button with no name at all."""
    page = new_context(viewport=NARROWEST).new_page()
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    summary = page.locator(".usermenu > summary")
    expect(summary).to_have_accessible_name("Alice Martin")
    assert summary.bounding_box()["width"] < 80  # the name still out of sight


def _wider_than_the_screen(page: Page, paths: list[str]) -> dict[str, int]:
    widths = {}
    for path in paths:
        page.goto(path)
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
    return {path: width for path, width in widths.items() if width > NARROWEST["width"]}


def test_console_and_training_pages_fit_a_320px_screen(demo, new_context):
    """A file field's button and words, a card's "pseudonymise and warn", a training report's
    addresses: each ran past the screen's edge, so the whole page scrolled sideways."""
    page = new_context(viewport=NARROWEST).new_page()
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    cards = [f"/training/cards/{number}/" for number in (1, 2, 3, 4)]
    paths = ["/policy/term-lists/new/", *cards, "/training/report/"]
    assert _wider_than_the_screen(page, paths) == {}


def test_audit_pages_fit_a_320px_screen(demo, new_context):
    """The filters' second date field and a 32-character request id ran past the edge."""
    page = new_context(viewport=NARROWEST).new_page()
    sign_in(page, "aaron@example.com", DEMO_PASSWORD)
    signed_in = AuditEvent.objects.exclude(request_id="").latest("sequence")
    assert len(signed_in.request_id) >= 32
    paths = ["/audit/", f"/audit/events/{signed_in.sequence}/"]
    assert _wider_than_the_screen(page, paths) == {}


def test_a_messages_dismiss_is_at_least_4_5_to_1(demo, page: Page):
    sign_in(page, "alice@example.com", DEMO_PASSWORD)  # leaves "Successfully signed in"
    expect(page.locator(".flash-success .flash-close")).to_be_visible()
    ratios = page.evaluate(CONTRAST, ".flash-close")
    assert ratios and all(row["ratio"] >= 4.5 for row in ratios), ratios
    # Its colour as computed is not the one seen when it is faded (it was, to 2.78:1).
    opacities = page.eval_on_selector_all(
        ".flash-close", "nodes => nodes.map(node => getComputedStyle(node).opacity)"
    )
    assert set(opacities) == {"1"}


def test_dismissing_a_message_leaves_the_focus_where_it_was(demo, page: Page):
    """Focus fell to <body>: the next Tab began again at the top of the page."""
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    page.locator(".flash .flash-close").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_have_count(0)
    expect(page.locator("#main")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")
    expect(page.locator("#main")).not_to_have_attribute("tabindex", "-1")  # only while it had it


# --- the chat: where focus goes when a turn or the title is swapped in -----------------------


def _send_a_slow_answer(org, page: Page) -> None:
    org.external.reply = ["One ", "word ", "at ", "a ", "time ", "for ", "a ", "while."]
    org.external.delay = 0.5
    page.get_by_label("Message").fill("Take your time.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#message-list .turn-assistant .turn-body")).to_contain_text("One")


def test_stop_then_retry_keep_the_focus_on_the_answers_own_buttons(org, chat_page: Page):
    """The turn replaced itself, and focus went to the whole turn: the next Tab had to find
    Retry again. Stopped, Retry has it; retried, Stop; finished, Copy."""
    _send_a_slow_answer(org, chat_page)
    answer = chat_page.locator("#message-list .turn-assistant")
    answer.get_by_role("button", name="Stop").focus()
    chat_page.keyboard.press("Enter")
    expect(answer).to_have_class(re.compile(r"\bturn-cancelled\b"))
    expect(answer.get_by_role("button", name="Retry")).to_be_focused()

    org.external.reply = ["Again, ", "slowly ", "this ", "time."]
    chat_page.keyboard.press("Enter")
    expect(answer.get_by_role("button", name="Stop")).to_be_focused()
    expect(answer).to_have_class(re.compile(r"\bturn-done\b"))
    expect(answer.get_by_role("button", name="Copy the answer")).to_be_focused()


def test_a_rename_keeps_the_focus_on_rename_and_names_the_tab(chat_page: Page):
    chat_page.get_by_text("Rename", exact=True).click()
    chat_page.locator("#rename-title").fill("Bridges of Europe")
    chat_page.keyboard.press("Enter")
    title = chat_page.locator("#conversation-title")
    expect(title).to_have_text("Bridges of Europe")
    expect(chat_page.locator("details.rename > summary")).to_be_focused()
    expect(chat_page).to_have_title("Bridges of Europe · Steward")


def test_a_message_sent_too_soon_is_described_by_why_until_the_answer_comes(org, chat_page: Page):
    _send_a_slow_answer(org, chat_page)
    box = chat_page.get_by_label("Message")
    box.fill("And another thing.")
    chat_page.get_by_role("button", name="Send").click()
    error = chat_page.locator(".send-error")
    expect(error).to_contain_text("An answer is still on its way")
    expect(box).to_have_accessible_description(re.compile("An answer is still on its way"))

    expect(chat_page.locator("#message-list .turn-assistant")).to_have_class(
        re.compile(r"\bturn-done\b")
    )
    expect(error).to_have_count(0)
    expect(box).not_to_have_attribute("aria-describedby", re.compile("send-error"))
