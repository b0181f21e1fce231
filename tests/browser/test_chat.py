"""The chat in a real browser, on uvicorn: the preview, a streamed answer, stop, retry, errors.

Answers come from the fake backends of ``tests/chat/conftest.py`` (``org``), generated on
a thread as a worker would (``answers_on_threads``), and reach the page through
the ASGI server's event stream as they are written.

    STEWARD_SCREENSHOTS=/tmp/steward-shots .venv/bin/python -m pytest -m browser -k chat

also saves ``chat-*.png`` screenshots of the states the tests reach.
"""

import datetime as dt
import json
import os
import re
import time
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from playwright.sync_api import Page, expect

from chat import services
from governance.demo import DEMO_PASSWORD
from governance.models import DetectionRule
from tests.browser.conftest import PHONE, sign_in, watch_console

pytestmark = pytest.mark.browser

STAFF = "alice@example.com"  # cleared for categories 1 and 2
EMAIL = "jane.roe@example.org"
SHOTS = os.environ.get("STEWARD_SCREENSHOTS", "")


@pytest.fixture
def open_page(org, answers_on_threads, new_asgi_context, console_errors):
    """A page on the ASGI server, signed in as Alice through the login form."""

    def open_signed_in(**kwargs) -> Page:
        page = watch_console(new_asgi_context(**kwargs).new_page(), console_errors)
        sign_in(page, STAFF, DEMO_PASSWORD)
        return page

    return open_signed_in


@pytest.fixture
def page(open_page) -> Page:
    return open_page()


def start_conversation(page: Page, category: str = "internal") -> None:
    page.goto("/chat/")
    page.locator(f"input[name=category][value={category}]").check()
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#conversation-title")).to_have_text("New conversation")
    # The title is there while the page is still being read, before htmx and chat.js (deferred)
    # have run: a message typed then would get no preview (CI met it on a loaded machine).
    page.wait_for_load_state()


def send(page: Page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    """A screenshot when ``STEWARD_SCREENSHOTS`` names a directory.

    ``full_page=False`` keeps what the viewport shows where the page is scrolled:
    the composer sticks to the viewport's bottom, and would cover the thread in
    the middle of a full-page shot.
    """
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    # caret="initial": Playwright's caret hiding writes style attributes the CSP reports.
    page.screenshot(path=Path(SHOTS) / f"chat-{name}.png", full_page=full_page, caret="initial")


def sent_to(fake) -> list[str]:
    """The user turns each call to ``fake`` carried."""
    return [m["content"] for r in fake.requests for m in r.body["messages"] if m["role"] == "user"]


def test_it_pseudonymises_streams_and_restores_the_answer(org, page: Page, console_errors):
    org.external.reply = ["Drafting a reply to ", "[EMAIL_1]", " now.", " Thanks,", " warmly."]
    org.external.delay = 0.3
    start_conversation(page)
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    page.get_by_label("Message").fill(f"Write a short thank-you note to {EMAIL}.")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Some details will be replaced")
    expect(preview).to_contain_text("1 email address")
    page.get_by_role("button", name="Send").click()

    answer = page.locator("#message-list .turn-assistant")
    expect(answer.locator(".turn-body")).to_contain_text("Drafting a reply to")
    assert "warmly." not in answer.inner_text(), "the answer arrived in one piece"
    expect(answer.get_by_role("button", name="Stop")).to_be_visible()  # still on its way
    expect(page.get_by_label("Message")).to_have_value("")
    shoot(page, "desktop-streaming")

    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer.locator(".turn-body")).to_have_text(
        f"Drafting a reply to {EMAIL} now. Thanks, warmly."
    )
    expect(answer.get_by_role("button", name="Stop")).to_have_count(0)
    question = page.locator("#message-list .turn-user")
    expect(question.locator(".turn-body")).to_have_text(f"Write a short thank-you note to {EMAIL}.")
    question.get_by_text("What the model saw").click()
    expect(question.locator(".model-saw")).to_contain_text(
        "Write a short thank-you note to [EMAIL_1]."
    )
    expect(page.locator("#conversation-title")).to_have_text(  # named, not shown
        "Write a short thank-you note to [email address]."
    )
    shoot(page, "desktop-finished")

    assert sent_to(org.external) == ["Write a short thank-you note to [EMAIL_1]."]
    assert EMAIL not in json.dumps([r.body for r in org.external.requests])
    assert org.local.requests == []
    # The answer came on the response to the send: the page opened no stream of its own.
    assert [url for url in requested if "/send/" in url] == [
        page.url.split("#")[0] + "send/stream/"
    ]
    assert not [url for url in requested if "/m/" in url and url.endswith("/stream/")]
    assert console_errors == []


def test_it_follows_the_answer_on_its_own_stream_when_the_response_breaks(
    org, page: Page, console_errors, monkeypatch
):
    from chat import streaming

    # The response to the send ends after the first words, as a dropped connection would:
    # the page fetches the turn again, which opens the answer's own stream.
    streamed = streaming._sent_then_answer

    async def cut_short(*args):
        async for event in streamed(*args):
            yield event
            if event.startswith(b"event: chunk"):
                return

    monkeypatch.setattr(streaming, "_sent_then_answer", cut_short)
    org.external.reply = ["One, ", "two, ", "three, ", "four, ", "five."]
    org.external.delay = 0.4
    start_conversation(page)
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    send(page, "Count to five, please.")

    answer = page.locator("#message-list .turn-assistant")
    expect(answer.locator(".turn-body")).to_contain_text("One,")
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer.locator(".turn-body")).to_have_text("One, two, three, four, five.")
    assert [url for url in requested if "/m/" in url and url.endswith("/stream/")]
    assert console_errors == []


def test_it_keeps_the_text_and_says_so_when_the_server_fails_the_send(
    org, page: Page, console_errors
):
    start_conversation(page)
    page.route("**/send/stream/", lambda route: route.fulfill(status=500, body="Server Error"))
    send(page, "Please keep this text.")

    expect(page.get_by_role("alert")).to_contain_text("Not sent: something went wrong")
    expect(page.get_by_role("alert")).to_contain_text("(error 500)")
    expect(page.get_by_label("Message")).to_have_value("Please keep this text.")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()  # free to try again
    expect(page.locator("#message-list .turn")).to_have_count(0)
    shoot(page, "desktop-send-failed", full_page=False)
    assert [e for e in console_errors if "500" not in e] == []  # the browser logs the 500


def test_a_paste_larger_than_steward_takes_is_not_sent_and_stays(org, page: Page, console_errors):
    """A paste past the longest message (here megabytes, past what the server reads at all)
    is said to be too long before Send, in the server's words, and neither posted for a
    preview nor sent: the box keeps it. Shortened again, the server's preview comes back."""
    from django.conf import settings

    start_conversation(page)
    box = page.get_by_label("Message")
    box.fill("Hello there")
    expect(page.locator("#preview")).to_contain_text("Nothing recognised to replace")
    huge = "log line\n" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 9 + 1)
    paste = "(box, text) => { box.value = text; box.dispatchEvent(new Event('input')); }"
    box.evaluate(paste, huge)  # as a paste puts it there (typing 2.5 MB takes Playwright minutes)
    expect(page.locator("#preview")).to_contain_text("Too long to send")  # before Send
    with pytest.raises(services.ChatError) as refused:
        services.clean_text(huge)
    expect(page.locator("#preview .preview-reason")).to_have_text(str(refused.value))
    expect(page.locator("#messages [role=alert]")).to_have_count(0)  # said there, only
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_role("alert")).to_contain_text(f"Not sent: {refused.value} Your text")
    assert "That message is 2,621,447 characters; the limit is 32,000." in str(refused.value)
    assert page.get_by_label("Message").input_value() == huge
    assert page.locator("#messages [role=alert]").count() == 0  # not said twice
    expect(page.locator("#message-list .turn")).to_have_count(0)

    box.evaluate(paste, "Hello there")  # the same text as the preview before the paste
    expect(page.locator("#preview")).to_contain_text("Nothing recognised to replace")
    assert org.external.requests == [] and org.local.requests == []
    assert console_errors == []


def test_it_shows_a_blocked_message_in_place(org, page: Page, console_errors):
    DetectionRule.objects.create(
        name="Privilege", reason="Privileged legal advice", pattern="privileged", action="block"
    )
    start_conversation(page)

    page.get_by_label("Message").fill("Summarise this privileged memo about the merger.")
    expect(page.locator("#preview")).to_contain_text("Will be blocked")
    page.get_by_role("button", name="Send").click()

    blocked = page.locator("#message-list").get_by_role("alert")
    expect(blocked).to_contain_text("Not sent.")
    expect(blocked).to_contain_text("Privileged legal advice")
    expect(page.locator("#message-list")).not_to_contain_text("privileged memo")
    message_box = page.get_by_label("Message")
    # Back in the box to mend (the page kept it: the server neither stored nor sent it back).
    expect(message_box).to_have_value("Summarise this privileged memo about the merger.")
    expect(message_box).to_be_editable()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    shoot(page, "desktop-blocked")
    assert org.external.requests == [] and org.local.requests == []

    send(page, "Summarise the merger's public announcement.")
    expect(page.locator("#message-list .turn-assistant.turn-done")).to_contain_text(
        "Hello from the API."
    )
    assert sent_to(org.external) == ["Summarise the merger's public announcement."]
    assert console_errors == []


def test_it_stops_an_answer_and_retries_it(org, page: Page, console_errors):
    org.external.reply = [f"Word {n}. " for n in range(1, 21)]
    org.external.delay = 0.5
    start_conversation(page)
    send(page, "Count to twenty, slowly.")

    answer = page.locator("#message-list .turn-assistant")
    expect(answer.locator(".turn-body")).to_contain_text("Word 1.")
    answer.get_by_role("button", name="Stop").click()

    expect(answer).to_have_class("turn turn-assistant turn-cancelled")
    expect(answer).to_contain_text("Stopped.")
    expect(answer.locator(".turn-body")).to_contain_text("Word 1.")
    assert "Word 20." not in answer.inner_text()
    retry = answer.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    shoot(page, "desktop-stopped")

    org.external.delay = 0.02
    retry.click()
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer.locator(".turn-body")).to_have_text(" ".join(f"Word {n}." for n in range(1, 21)))
    expect(answer.get_by_role("button", name="Retry")).to_have_count(0)
    assert len(org.external.requests) == 2
    assert console_errors == []


def test_it_shows_a_failed_answer_in_place(org, page: Page, console_errors):
    org.external.fail = 500
    start_conversation(page)
    send(page, "What is the capital of France?")

    answer = page.locator("#message-list .turn-assistant")
    expect(answer).to_have_class("turn turn-assistant turn-failed")
    error = answer.get_by_role("alert")
    expect(error).to_contain_text("No answer.")
    expect(error).to_contain_text("OpenAI business API")
    expect(answer.get_by_role("button", name="Retry")).to_be_visible()
    shoot(page, "desktop-failed")

    org.external.fail = None
    answer.get_by_role("button", name="Retry").click()
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer.locator(".turn-body")).to_have_text("Hello from the API.")
    assert console_errors == []


def test_it_filters_the_conversation_list_as_you_type(org, page: Page, console_errors):
    for title in ("Quarterly budget review", "Holiday rota", "Budget for the offsite"):
        conversation = services.start_conversation(owner=org.alice, category=org.internal)
        conversation.title = title
        conversation.save()
    page.goto("/chat/")
    titles = page.locator("#conversation-list .conversation-title")
    expect(titles).to_have_count(3)
    page.evaluate("window.stewardMarker = 'same page'")

    page.get_by_label("Search by title").fill("budget")
    expect(titles).to_have_text(["Budget for the offsite", "Quarterly budget review"])
    shoot(page, "desktop-search")
    page.get_by_label("Search by title").fill("budgetx")
    expect(titles).to_have_count(0)
    expect(page.locator("#conversation-list")).to_contain_text("No conversation matches “budgetx”")
    page.get_by_label("Search by title").fill("")
    expect(titles).to_have_count(3)

    assert page.evaluate("window.stewardMarker") == "same page", "the search reloaded the page"
    assert console_errors == []


def test_it_fits_a_streaming_conversation_on_a_phone(org, open_page, console_errors):
    org.external.reply = ["Here is the note for ", "[EMAIL_1]", ":\n\n", "- thank her\n"] + [
        f"- point {n}\n" for n in range(1, 9)
    ]
    org.external.delay = 0.3
    page = open_page(viewport=PHONE)
    start_conversation(page)
    send(page, f"Draft a note to {EMAIL} with a list of points.")

    answer = page.locator("#message-list .turn-assistant")
    expect(answer.locator(".turn-body")).to_contain_text(f"Here is the note for {EMAIL}")
    assert "point 8" not in answer.inner_text()
    shoot(page, "phone-streaming", full_page=False)
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer.locator(".turn-body li")).to_have_count(9)
    shoot(page, "phone-finished", full_page=False)

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the conversation is {width}px wide on a 390px phone"
    assert console_errors == []


def test_an_answer_cut_at_the_length_limit_says_so_once_it_settles(org, page: Page):
    org.external.reply = ["The three steps are: first, ", "gather the invoices; second,"]
    org.external.finish = "length"
    start_conversation(page)
    send(page, "List the three steps of the month-end close.")
    answer = page.locator("#message-list .turn-assistant")
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer.locator(".turn-cut")).to_have_text(
        "The answer reached the backend's length limit and may be cut short."
    )
    shoot(page, "desktop-cut-short")


def test_it_renames_a_conversation_in_place_and_refuses_what_would_block_a_message(
    org, page: Page, console_errors
):
    DetectionRule.objects.create(
        name="Privilege", reason="Privileged legal advice", pattern="privileged", action="block"
    )
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    conversation.title = "Quarterly budget review"
    conversation.save()
    page.goto(f"/chat/c/{conversation.public_id}/")
    page.evaluate("window.stewardMarker = 'same page'")

    page.get_by_text("Rename", exact=True).click()
    field = page.get_by_label("New title")
    expect(field).to_be_focused()
    expect(field).to_have_value("Quarterly budget review")
    field.fill("Budget, privileged")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#rename-error")
    expect(error).to_contain_text("Blocked: Privileged legal advice")
    expect(page.get_by_label("New title")).to_have_value("Budget, privileged")  # kept
    expect(page.locator("#conversation-title")).to_have_text("Quarterly budget review")
    shoot(page, "desktop-rename-refused", full_page=False)

    page.get_by_label("New title").fill("Budget for the offsite")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#conversation-title")).to_have_text("Budget for the offsite")
    expect(page.locator("#side-list .side-title")).to_have_text(["Budget for the offsite"])
    expect(page.get_by_label("New title")).to_be_hidden()  # the form closed
    shoot(page, "desktop-renamed", full_page=False)

    page.get_by_text("Rename", exact=True).click()
    page.get_by_label("New title").fill("Something else")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_label("New title")).to_be_hidden()
    page.get_by_text("Rename", exact=True).click()
    expect(page.get_by_label("New title")).to_have_value("Budget for the offsite")  # put back
    expect(page.get_by_label("New title")).to_be_focused()  # (the toggle event comes a task later)
    page.keyboard.press("Escape")
    expect(page.get_by_label("New title")).to_be_hidden()
    expect(page.locator("#conversation-title")).to_have_text("Budget for the offsite")
    assert page.evaluate("window.stewardMarker") == "same page", "the rename reloaded the page"
    refused = [error for error in console_errors if "422 (Unprocessable Entity)" in error]
    assert len(refused) == 1 and console_errors == refused  # the browser logs the refusal's 422


def test_it_follows_the_new_turns_on_sending_even_after_the_reader_scrolled_up(org, page: Page):
    from tests.chat.test_views import _answered

    conversation, _, _ = _answered(
        org.alice, org.internal, "An earlier question", "\n\n".join(["A long answer."] * 80)
    )
    page.goto(f"/chat/c/{conversation.public_id}/")
    expect(page.locator("#message-list .turn")).to_have_count(2)
    page.mouse.move(600, 300)
    page.mouse.wheel(0, -20_000)  # up, to read the earlier answer (the composer stays in view)
    page.wait_for_timeout(300)

    send(page, "And what about the next step?")
    expect(page.locator("#message-list .turn")).to_have_count(4)
    answer = page.locator("#message-list .turn-assistant").last
    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer).to_be_in_viewport()


def test_the_preview_describes_the_latest_text_when_the_previous_check_was_still_running(
    org, page: Page, monkeypatch
):
    """The author types on while the check of an earlier draft (a long paste, a busy
    server) is still running: the newer check replaces it."""
    from chat.services import routing

    simulate = routing.simulate
    calls = []

    def slow_first(**kwargs):
        calls.append(kwargs["text"])
        if len(calls) == 1:
            time.sleep(1.5)
        return simulate(**kwargs)

    monkeypatch.setattr(routing, "simulate", slow_first)
    start_conversation(page)
    box = page.get_by_label("Message")
    box.fill("Hello team, a short note about Friday.")
    page.wait_for_timeout(700)  # the first check is on its way
    box.fill(f"Hello team, a short note about Friday. Copy {EMAIL} in.")
    expect(page.locator("#preview")).to_contain_text("Some details will be replaced", timeout=8_000)


def test_the_copy_button_gets_its_label_back_after_a_double_click(org, page: Page):
    from tests.chat.test_views import _answered

    conversation, _, answer = _answered(org.alice, org.internal, "Say hello", "Hello there.")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/chat/c/{conversation.public_id}/")
    copy = page.locator(f"#turn-{answer.public_id} [data-copy]")
    expect(copy).to_have_text("Copy")
    copy.dblclick()
    expect(copy).to_have_text("Copied")
    expect(copy).to_have_text("Copy", timeout=3_000)  # 1.5 s after the last click


# --- the session ends while the page is open -----------------------------------------------


def _conversation_then_signed_out(org, page: Page):
    """Alice's conversation open in the page, and then her session expired (as 30 idle
    minutes would)."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    page.goto(f"/chat/c/{conversation.public_id}/")
    expect(page.locator("#conversation-title")).to_have_text("New conversation")
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(minutes=1))
    return conversation


def _signs_in_and_comes_back(page: Page, conversation) -> None:
    """The whole page went to sign in, and signing in leads back to the conversation."""
    page_url = f"/chat/c/{conversation.public_id}/"
    expect(page).to_have_url(re.compile(rf"/accounts/login/\?next={re.escape(page_url)}$"))
    page.fill("input[name=login]", STAFF)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(page_url)}$"))
    expect(page.locator("#conversation-title")).to_have_text("New conversation")


def test_a_preview_after_the_session_ended_sends_the_page_to_sign_in(org, page: Page):
    """Not the sign-in page swapped in where the preview was, inside the message box."""
    conversation = _conversation_then_signed_out(org, page)
    page.get_by_label("Message").fill("Draft a note to the team about Friday.")
    _signs_in_and_comes_back(page, conversation)


def test_a_rename_after_the_session_ended_sends_the_page_to_sign_in(org, page: Page):
    """Not the sign-in page swapped in for the heading."""
    conversation = _conversation_then_signed_out(org, page)
    page.get_by_text("Rename", exact=True).click()
    page.get_by_label("New title").fill("Friday planning")
    page.get_by_role("button", name="Save").click()
    _signs_in_and_comes_back(page, conversation)


def test_a_message_too_long_for_the_model_says_so_and_offers_it_to_copy_not_retry(
    org, page: Page, console_errors, monkeypatch
):
    """Not "a policy admin must fix it" with a Retry that fails the same way: the message's
    length is the author's to change, and the message is there to copy."""
    org.external.fail = 400
    refusal = {"message": "This model's maximum context length is 8192 tokens.", "code": None}
    monkeypatch.setattr(org.external, "error_body", lambda status: {"error": refusal})
    start_conversation(page)
    send(page, "Summarise this: " + "word " * 200)

    answer = page.locator("#message-list .turn-assistant")
    expect(answer).to_have_class("turn turn-assistant turn-failed")
    error = answer.get_by_role("alert")
    expect(error).to_contain_text("Your message is too long for OpenAI business API to read")
    expect(error).not_to_contain_text("policy admin")
    expect(answer.get_by_role("button", name="Retry")).to_have_count(0)
    expect(error.get_by_role("button", name="Copy your message")).to_be_visible()
    expect(page.locator("#message-list .turn-user .turn-text")).to_contain_text("Summarise this")
    shoot(page, "desktop-too-long")
    assert console_errors == []
