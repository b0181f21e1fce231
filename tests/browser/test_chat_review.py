"""The chat page as a busy employee uses it every day, in a real browser on uvicorn.

Findings of a review of the page; each test failed before its fix.

    STEWARD_SCREENSHOTS=/tmp/steward-shots .venv/bin/python -m pytest -m browser -k chat_review
"""

import time

import pytest
from playwright.sync_api import Page, expect

from chat import services
from governance.demo import DEMO_PASSWORD
from governance.models import DetectionRule
from tests.browser.conftest import PHONE, sign_in, watch_console
from tests.browser.test_chat import STAFF, send, shoot, start_conversation
from tests.chat.test_views import _answered

pytestmark = pytest.mark.browser


@pytest.fixture
def page(org, answers_on_threads, new_asgi_context, console_errors) -> Page:
    """A page on the ASGI server, signed in as Alice through the login form."""
    page = watch_console(new_asgi_context().new_page(), console_errors)
    sign_in(page, STAFF, DEMO_PASSWORD)
    return page


def test_the_message_box_keeps_what_was_typed_while_a_message_went_and_keeps_focus(
    org, page: Page, monkeypatch, console_errors
):
    """The new turns came with an empty message box in place of the old one: whatever was
    typed meanwhile (a busy server takes a second or two to check a message) was wiped.
    And a Send clicked (or pressed from the keyboard) left focus on the page's <body>: the
    next Tab started again from the top, through every conversation of the side list."""
    checked = services.send_message

    def slow_check(**kwargs):
        time.sleep(1.5)
        return checked(**kwargs)

    monkeypatch.setattr(services, "send_message", slow_check)
    start_conversation(page)
    box = page.get_by_label("Message")
    expect(box).to_be_focused()  # a new conversation: nothing to do but write

    box.fill("What is a ledger?")
    page.get_by_role("button", name="Send").click()
    box.fill("And what is an accrual?")  # the next question, while the first one goes
    expect(page.locator("#message-list .turn-user")).to_have_count(1)
    expect(page.locator("#message-list .turn-assistant.turn-done")).to_have_count(1)
    expect(box).to_have_value("And what is an accrual?")

    page.get_by_role("button", name="Send").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#message-list .turn-user")).to_have_count(2)
    expect(box).to_have_value("")
    expect(box).to_be_focused()  # ready for the next message
    expect(page.locator("#message-list .turn-assistant.turn-done")).to_have_count(2)
    assert console_errors == []


def test_a_blocked_message_comes_back_to_the_box_to_mend(org, page: Page, console_errors):
    """A message blocked for one word lost all its text: the author typed it all again.
    The server still neither stores nor echoes it: the page puts back what it sent."""
    DetectionRule.objects.create(
        name="Privilege", reason="Privileged legal advice", pattern="privileged", action="block"
    )
    start_conversation(page)
    send(page, "Summarise this privileged memo about the merger.")
    expect(page.locator("#message-list").get_by_role("alert")).to_contain_text("Not sent.")
    box = page.get_by_label("Message")
    expect(box).to_have_value("Summarise this privileged memo about the merger.")
    expect(page.locator("#preview")).to_contain_text("Will be blocked")  # checked again
    shoot(page, "review-blocked-kept", full_page=False)
    assert org.external.requests == []

    box.fill("Summarise this memo about the merger.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#message-list .turn-assistant.turn-done")).to_have_count(1)
    expect(box).to_have_value("")
    assert console_errors == []


def test_a_long_conversation_opens_at_its_newest_turn(org, page: Page, console_errors):
    """It opened at its first question: the latest answer, the one to go on from, was
    screens below."""
    long_answer = "\n\n".join(f"Paragraph {n} of a long answer." for n in range(30))
    conversation, first, _ = _answered(org.alice, org.internal, "The first question", long_answer)
    for n in range(3):
        _, _, last = _answered(
            org.alice, org.internal, f"Question {n}", long_answer, conversation=conversation
        )
    page.goto(f"/chat/c/{conversation.public_id}/")
    expect(page.locator(f"#turn-{last.public_id} .turn-actions")).to_be_in_viewport()
    expect(page.locator(f"#turn-{first.public_id}")).not_to_be_in_viewport()
    shoot(page, "review-long-opened", full_page=False)

    # A link to a turn still opens at that turn.
    page.goto(f"/chat/c/{conversation.public_id}/#turn-{first.public_id}")
    expect(page.locator(f"#turn-{first.public_id}")).to_be_in_viewport()
    assert console_errors == []


def test_copy_works_where_the_browser_has_no_clipboard_api(org, page: Page, console_errors):
    """Over plain HTTP from another machine (the embedded mode's default) the browser has
    no navigator.clipboard, and Copy did nothing at all."""
    conversation, _, answer = _answered(org.alice, org.internal, "Say hello", "Hello **there**.")
    page.add_init_script(
        "delete Navigator.prototype.clipboard;"
        "window.copied = [];"
        "document.execCommand = function (name) {"
        "  window.copied.push(name + ':' + String(window.getSelection())); return true; };"
    )
    page.goto(f"/chat/c/{conversation.public_id}/")
    copy = page.locator(f"#turn-{answer.public_id} [data-copy]")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("window.copied") == ["copy:Hello there."]
    assert page.evaluate("String(window.getSelection())") == ""  # the selection is let go
    expect(copy).to_have_text("Copy", timeout=3_000)
    assert console_errors == []


def test_the_conversation_list_gives_a_title_the_width_of_a_phone(org, new_asgi_context):
    """At 390px the category and "3 minutes ago" kept their width beside each title, which
    was left a column a word wide, broken inside words ("jane.roe@ex / ample.org")."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    conversation.title = "Please draft a reply to jane.roe@example.org about the March invoices."
    conversation.save()
    page = new_asgi_context(viewport=PHONE).new_page()
    sign_in(page, STAFF, DEMO_PASSWORD)
    page.goto("/chat/")
    title = page.locator("#conversation-list .conversation-title")
    expect(title).to_have_count(1)
    width = title.evaluate("e => e.closest('a').getBoundingClientRect().width")
    assert width > 250, f"the title has {width}px of a 390px phone"
    shoot(page, "review-phone-list")


def test_a_message_sent_while_an_answer_is_on_its_way_is_held_and_said_so_until_it_comes(
    org, page: Page, console_errors
):
    """The server refused it ("An answer is still on its way"), and that refusal stayed
    beside the box after the answer had come, as though the text still could not go."""
    org.external.reply = ["One, ", "two, ", "three, ", "four, ", "five."]
    org.external.delay = 0.4
    start_conversation(page)
    send(page, "Count to five, please.")
    answer = page.locator("#message-list .turn-assistant")
    expect(answer.locator(".turn-body")).to_contain_text("One,")

    box = page.get_by_label("Message")
    box.fill("And now to ten?")
    box.press("Control+Enter")
    hint = page.locator("#composer").get_by_role("alert")
    expect(hint).to_contain_text("An answer is still on its way")
    expect(box).to_have_value("And now to ten?")
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(hint).to_have_count(0)  # it has come: nothing stands in the way any more
    assert len(org.external.requests) == 1

    box.press("Control+Enter")
    expect(page.locator("#message-list .turn-assistant.turn-done")).to_have_count(2)
    assert len(org.external.requests) == 2
    assert console_errors == []


def test_a_code_block_copies_on_its_own(org, page: Page, console_errors):
    """Copy took the whole answer: to take only its code, the author selected it by hand,
    a long block scrolling under the mouse."""
    answer_text = "Run this:\n\n```python\nfor n in range(3):\n    print(n)\n```\n\nThen check."
    conversation, _, answer = _answered(org.alice, org.internal, "A loop?", answer_text)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/chat/c/{conversation.public_id}/")
    turn = page.locator(f"#turn-{answer.public_id}")
    expect(turn.get_by_role("button", name="Copy code")).to_have_count(1)
    copy_code = turn.locator(".code-copy")
    copy_code.click()
    expect(copy_code).to_have_accessible_name("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "for n in range(3):\n    print(n)"
    shoot(page, "review-code-copy", full_page=False)

    turn.locator("[data-copy]").click()  # the whole answer, without the button's words
    expect(turn.locator("[data-copy]")).to_have_text("Copied")
    whole = page.evaluate("navigator.clipboard.readText()")
    assert whole.startswith("Run this:") and whole.rstrip().endswith("Then check.")
    assert "Copy" not in whole
    assert console_errors == []


def test_a_draft_survives_the_session_ending_under_it(org, page: Page):
    """Thirty idle minutes end the session; the author comes back and types on: the
    preview sent the whole page to sign in, and what was in the box was gone."""
    from tests.browser.test_chat import _conversation_then_signed_out, _signs_in_and_comes_back

    conversation = _conversation_then_signed_out(org, page)
    draft = "Draft a note to the team about Friday:\nthe offsite moves to the 14th."
    page.get_by_label("Message").fill(draft)
    _signs_in_and_comes_back(page, conversation)
    expect(page.get_by_label("Message")).to_have_value(draft)
    # checked again
    expect(page.locator("#preview")).to_contain_text("Nothing recognised to replace")
    assert page.evaluate("sessionStorage.getItem('steward.chat.draft')") is None  # taken out

    page.reload()  # once: a later visit starts empty
    expect(page.locator("#conversation-title")).to_have_text("New conversation")
    expect(page.get_by_label("Message")).to_have_value("")


def test_earlier_messages_come_in_above_without_moving_what_is_read(
    org, page: Page, console_errors
):
    """A long conversation opens with its newest turns; the earlier ones are asked for, and
    put above without the turn being read jumping away."""
    conversation, first, _ = _answered(org.alice, org.internal, "Question 0", "Answer 0")
    for n in range(1, 35):
        question, answer = f"Question {n}", f"Answer {n}"
        _answered(org.alice, org.internal, question, answer, conversation=conversation)
    page.goto(f"/chat/c/{conversation.public_id}/")
    expect(page.locator(f"#turn-{first.public_id}")).to_have_count(0)  # not on the page yet
    earlier = page.get_by_role("link", name="Show earlier messages")
    earlier.scroll_into_view_if_needed()
    reading = page.locator("#message-list > .turn").first
    expect(reading).to_contain_text("Question 5")
    reading = page.locator(f"#{reading.get_attribute('id')}")  # that turn, wherever it goes
    top = reading.bounding_box()["y"]
    shoot(page, "review-earlier-offered", full_page=False)
    earlier.click()
    expect(page.locator(f"#turn-{first.public_id}")).to_contain_text("Question 0")
    expect(page.get_by_role("link", name="Show earlier messages")).to_have_count(0)
    assert abs(reading.bounding_box()["y"] - top) <= 2
    shoot(page, "review-earlier-messages", full_page=False)
    assert console_errors == []


def test_earlier_messages_from_the_keyboard_leave_focus_on_the_newest_loaded_turn(
    org, page: Page, console_errors
):
    """Focus went to the top of the loaded page (or nowhere): reading on from it, a screen
    reader started at the oldest of 60 turns, not next to where the reader was."""
    conversation, _, _ = _answered(org.alice, org.internal, "Question 0", "Answer 0")
    for n in range(1, 65):
        question, answer = f"Question {n}", f"Answer {n}"
        _answered(org.alice, org.internal, question, answer, conversation=conversation)
    page.goto(f"/chat/c/{conversation.public_id}/")
    earlier = page.get_by_role("link", name="Show earlier messages")
    earlier.focus()
    reading = page.locator("#message-list > .turn").first
    expect(reading).to_contain_text("Question 35")
    reading = page.locator(f"#{reading.get_attribute('id')}")
    top = reading.bounding_box()["y"]
    page.keyboard.press("Enter")
    focused = page.locator(":focus")
    expect(focused).to_contain_text("Answer 34")  # the turn just above the one being read
    assert abs(reading.bounding_box()["y"] - top) <= 2
    expect(page.get_by_role("link", name="Show earlier messages")).to_have_count(1)  # 5 more
    assert console_errors == []
