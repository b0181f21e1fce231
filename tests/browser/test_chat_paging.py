"""A long conversation's earlier pages, in a real browser on uvicorn: without script, a page
at a time, and the message box of an earlier page sending to the newest one."""

import pytest
from playwright.sync_api import Page, expect

from chat import views
from governance.demo import DEMO_PASSWORD
from tests.browser.conftest import sign_in, watch_console
from tests.browser.test_chat import STAFF, send
from tests.chat.test_views import _answered

pytestmark = pytest.mark.browser


@pytest.fixture
def long_conversation(org):
    """Alice's conversation of 35 questions and their answers: a page and 10 turns."""
    assert views.TURNS_PER_PAGE == 60
    conversation, _, _ = _answered(org.alice, org.internal, "Question 0", "Answer 0")
    for n in range(1, 35):
        question, answer = f"Question {n}", f"Answer {n}"
        _answered(org.alice, org.internal, question, answer, conversation=conversation)
    return conversation


def _signed_in(new_asgi_context, console_errors, **options) -> Page:
    page = watch_console(new_asgi_context(**options).new_page(), console_errors)
    sign_in(page, STAFF, DEMO_PASSWORD)
    return page


def test_earlier_messages_open_a_page_at_a_time_without_script(
    org, long_conversation, answers_on_threads, new_asgi_context, console_errors
):
    page = _signed_in(new_asgi_context, console_errors, java_script_enabled=False)
    url = f"/chat/c/{long_conversation.public_id}/"
    page.goto(url)
    turns = page.locator("#message-list > .turn")
    expect(turns.first).to_contain_text("Question 5")
    page.get_by_role("link", name="Show earlier messages").click()
    expect(turns).to_have_count(10)
    expect(turns.first).to_contain_text("Question 0")
    expect(turns.last).to_contain_text("Answer 4")
    expect(page.get_by_role("link", name="Show earlier messages")).to_have_count(0)
    expect(page.get_by_label("Message")).to_be_visible()
    page.get_by_role("link", name="Show newest messages").click()
    expect(turns.last).to_contain_text("Answer 34")
    assert page.url.endswith(url)
    assert console_errors == []


def test_a_message_sent_from_an_earlier_page_shows_on_the_newest_page(
    org, long_conversation, answers_on_threads, new_asgi_context, console_errors
):
    """With script too: sent from an earlier page (opened in a tab of its own, or come back
    to after an action on an old turn), the new turns are not put below turns from before."""
    org.external.reply = ["The next step ", "is the audit."]
    page = _signed_in(new_asgi_context, console_errors)
    first = long_conversation.messages.order_by("created_at", "id")[10]
    page.goto(f"/chat/c/{long_conversation.public_id}/?before={first.public_id}")
    turns = page.locator("#message-list > .turn")
    expect(turns).to_have_count(10)
    send(page, "And what about the next step?")
    expect(page.locator("#message-list > .turn-user").last).to_contain_text("the next step?")
    expect(turns.nth(-3)).to_contain_text("Answer 34")
    answer = page.locator("#message-list > .turn-assistant").last
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer).to_contain_text("The next step is the audit.")
    expect(page.get_by_role("link", name="Show newest messages")).to_have_count(0)
    assert console_errors == []
