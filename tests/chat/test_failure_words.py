"""An answer that fails says so in words a staff member acts on.

A message longer than its model's context is the message's (or the conversation's) doing,
not the model's setup: no policy admin, no Retry that would fail the same way, the message
there to copy. An answer queued for long says the model has not started. An answer whose
worker was lost keeps what had come, as a stop does, and says it in plain words.
"""

import time

import pytest
from asgiref.sync import async_to_sync
from django.template.loader import render_to_string
from django.urls import reverse

from chat import answering, llm, streaming, streams
from chat.answering import following, production
from chat.llm.adapter import Adapter
from chat.models import Message
from chat.turns import turn_for
from governance.models import Backend
from tests.chat.test_lost_worker_seen import _answer as answer_in

QUESTION = llm.ChatMessage(role="user", content="word " * 2_000)
SYSTEM = llm.ChatMessage(role="system", content="Keep every placeholder.")


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch):
    monkeypatch.setattr(streaming, "BLOCK_MS", 100)
    monkeypatch.setattr(streaming, "MAX_CONNECTION_SECONDS", 1)


def _answer(org, django_capture_on_commit_callbacks, status, *, seconds_ago: float):
    """An answer of Alice's in ``status`` since ``seconds_ago`` (test_lost_worker_seen's)."""
    return answer_in(org, django_capture_on_commit_callbacks, status, seconds_ago=seconds_ago)[1]


def _failed(answer: Message, kind: str, error: str = "It failed.") -> Message:
    answer.error = error
    Message.objects.filter(pk=answer.pk).update(
        status=Message.Status.FAILED, error_kind=kind, error_sealed=answer.error_sealed
    )
    answer.refresh_from_db()
    return answer


def _events(client, answer) -> list[tuple[str, str]]:
    """(name, data) of the events the answer's stream sends its page, until it closes."""
    response = client.get(reverse("chat:stream", args=[answer.public_id]))

    async def consume():
        return [part async for part in response.streaming_content]

    body = b"".join(async_to_sync(consume)()).decode()
    events = []
    for block in body.split("\n\n"):
        lines = block.split("\n")
        names = [line.removeprefix("event: ") for line in lines if line.startswith("event:")]
        data = "\n".join(line.removeprefix("data: ") for line in lines if line.startswith("data:"))
        if names:
            events.append((names[0], data))
    return events


# --- a message too long for its model's context ---------------------------------------------


@pytest.mark.parametrize(
    "vendor_says",
    [
        "This model's maximum context length is 8192 tokens. However, you requested 9000.",
        "the request exceeds the available context size, try increasing it",  # llama.cpp
        "prompt is too long: 210000 tokens > 200000 maximum",  # Anthropic
        "Input is too long for requested model.",  # Bedrock
    ],
)
def test_a_backends_refusal_for_length_is_known_whatever_its_words(vendor_says):
    adapter = Adapter(Backend(name="Model X", kind=Backend.Kind.OPENAI), "")
    refusal = adapter._status(400, vendor_says)
    assert (refusal.kind, refusal.status, refusal.code) == ("http", 400, llm.TOO_LONG)
    assert adapter._status(400, "Unknown parameter: top_k").code is None
    assert adapter._status(500, vendor_says).code is None  # the server's trouble, not the request


def test_a_message_that_alone_is_too_long_is_told_to_be_shortened_or_split():
    said = production.too_long("Built-in model", [SYSTEM, QUESTION])
    assert said.startswith("Your message is too long for Built-in model")
    assert "shorten it, or split it" in said and "policy admin" not in said


def test_a_conversation_that_makes_it_too_long_is_told_to_start_a_new_one():
    before = [llm.ChatMessage(role="user", content="a" * 4_000)] * 2
    short = llm.ChatMessage(role="user", content="And now?")
    said = production.too_long("Built-in model", [SYSTEM, *before, short])
    assert "the conversation before it" in said and "start a new conversation" in said


def test_a_refusal_for_length_is_stored_as_too_long_in_the_authors_words(org):
    progress = production.Progress()
    refusal = llm.LLMError("Model X answered HTTP 400.", kind="http", status=400, code=llm.TOO_LONG)
    answer = Message(backend_name="Model X")
    production._failed(answer, [SYSTEM, QUESTION], progress, refusal)
    assert progress.error_kind == Message.TOO_LONG
    assert progress.error.startswith("Your message is too long for Model X")
    assert progress.failure is refusal  # the API answers 400 context_length_exceeded


def _too_long(org, django_capture_on_commit_callbacks) -> Message:
    """An answer of Alice's that failed for a message too long for its model."""
    return _failed(
        _answer(org, django_capture_on_commit_callbacks, Message.Status.QUEUED, seconds_ago=1),
        Message.TOO_LONG,
        "Your message is too long for Local Ollama to read: shorten it.",
    )


def test_the_api_following_a_workers_too_long_answer_answers_it_as_a_refusal(
    org, django_capture_on_commit_callbacks
):
    answer = _too_long(org, django_capture_on_commit_callbacks)
    progress = production.Progress(superseded=True, followed=True)
    following._as_settled(answer, progress)
    assert (progress.failure.kind, progress.failure.status) == ("http", 400)
    assert progress.failure.code == llm.TOO_LONG


def test_a_too_long_answer_offers_no_retry_and_no_policy_admin_but_the_message_to_copy(
    org, django_capture_on_commit_callbacks
):
    answer = _too_long(org, django_capture_on_commit_callbacks)
    turn = turn_for(answer)
    assert not turn.offers_retry and turn.offers_copy_of_question
    assert "policy admin" not in turn.after_failure and "fail the same way" in turn.after_failure
    html = render_to_string("chat/partials/failed_turn.html", {"turn": turn})
    assert "<strong>No answer.</strong>" in html
    assert f'data-copy="#turn-{answer.reply_to.public_id} .turn-text"' in html
    assert "Copy your message" in html


def test_a_retry_posted_for_a_too_long_answer_is_refused_and_sends_nothing(
    client, org, django_capture_on_commit_callbacks
):
    """Only the button had gone: a Retry posted anyway sent the same message again."""
    answer = _too_long(org, django_capture_on_commit_callbacks)
    client.force_login(org.alice)
    page = client.post(reverse("chat:retry", args=[answer.public_id]), follow=True).text
    assert "sent again as it is, it would fail the same way" in page
    answer.refresh_from_db()
    assert (answer.status, answer.error_kind) == (Message.Status.FAILED, Message.TOO_LONG)


def test_other_failures_keep_their_retry(org, django_capture_on_commit_callbacks):
    answer = _answer(org, django_capture_on_commit_callbacks, Message.Status.QUEUED, seconds_ago=1)
    turn = turn_for(_failed(answer, "connection"))
    assert turn.offers_retry and not turn.offers_copy_of_question
    html = render_to_string("chat/partials/failed_turn.html", {"turn": turn})
    assert "Copy your message" not in html


def test_an_answer_whose_model_was_switched_off_offers_a_retry_under_todays_policy(
    org, django_capture_on_commit_callbacks
):
    """It read "…was disabled; retry." above "The model is not set up right: retrying will
    not help until a policy admin fixes it.", under a Retry that governs the question anew."""
    answer = _answer(org, django_capture_on_commit_callbacks, Message.Status.QUEUED, seconds_ago=1)
    Backend.objects.filter(pk=answer.backend_id).update(enabled=False)
    answering.generate_answer(answer.pk)
    answer.refresh_from_db()
    assert (answer.error, answer.error_kind) == (
        "The model chosen for this answer was switched off.",
        Message.CHANGED,
    )
    turn = turn_for(answer)
    assert turn.offers_retry
    assert turn.after_failure == (
        "Your message is kept: Retry sends it under today's policy, to a model it allows."
    )
    html = render_to_string("chat/partials/failed_turn.html", {"turn": turn})
    assert "not set up right" not in html and "; retry" not in html


# --- an answer no model has started on --------------------------------------------------------


def test_an_answer_queued_for_long_says_the_model_has_not_started(
    client, org, django_capture_on_commit_callbacks
):
    answer = _answer(org, django_capture_on_commit_callbacks, Message.Status.QUEUED, seconds_ago=60)
    assert answering.whereabouts(answer.pk) == answering.NOT_STARTED
    client.force_login(org.alice)
    [(name, data)] = _events(client, answer)
    assert name == "waiting"
    assert "The model has not started on this yet: it may be busy, or down." in data
    assert "You can wait, or Stop and try again later." in data


def test_an_answer_queued_a_moment_ago_shows_no_such_words(
    client, org, django_capture_on_commit_callbacks
):
    answer = _answer(org, django_capture_on_commit_callbacks, Message.Status.QUEUED, seconds_ago=5)
    assert answering.whereabouts(answer.pk) == answering.ON_ITS_WAY
    client.force_login(org.alice)
    assert _events(client, answer) == []


def test_the_not_started_words_go_when_the_model_starts_after_all(
    client, org, django_capture_on_commit_callbacks
):
    answer = _answer(org, django_capture_on_commit_callbacks, Message.Status.QUEUED, seconds_ago=60)
    client.force_login(org.alice)
    response = client.get(reverse("chat:stream", args=[answer.public_id]))

    async def consume():
        seen = []
        async for part in response.streaming_content:
            seen.append(part)
            if part.startswith(b"event: waiting") and len(seen) < 4:
                streams.begin_answer(answer.public_id, 1, alive_ttl_seconds=60)
        return seen

    waits = [p.decode() for p in async_to_sync(consume)() if p.startswith(b"event: waiting")]
    assert "has not started" in waits[0] and "Answering…" in waits[1]


# --- an answer whose worker was lost -----------------------------------------------------------


def test_a_lost_answer_keeps_what_came_and_says_so_plainly(
    client, org, django_capture_on_commit_callbacks
):
    answer = _answer(
        org, django_capture_on_commit_callbacks, Message.Status.STREAMING, seconds_ago=300
    )
    streams.begin_answer(answer.public_id, answer.attempt, alive_ttl_seconds=60)
    streams.AnswerWriter(answer.public_id).chunk("The first half of an answer")
    last_beat = time.time() - answering.GIVE_UP_AFTER_SECONDS - 1
    streams.client().set(streams.seen_key(answer.public_id), last_beat, ex=60)
    streams.client().delete(streams.alive_key(answer.public_id))
    assert answering.sweep()["failed"] == 1
    answer.refresh_from_db()
    assert (answer.status, answer.error_kind) == (Message.Status.FAILED, "lost")
    assert answer.content == "The first half of an answer"
    turn = turn_for(answer)
    assert turn.offers_retry
    html = render_to_string("chat/partials/failed_turn.html", {"turn": turn})
    assert "<strong>The answer stopped partway.</strong>" in html
    assert "Steward lost its connection to the model." in html
    words = f"{answer.error} {turn.after_failure}"
    assert "worker" not in words and words.lower().count("retry") == 1


def test_an_answer_no_worker_took_says_so_without_jargon(org, django_capture_on_commit_callbacks):
    answer = _answer(
        org,
        django_capture_on_commit_callbacks,
        Message.Status.QUEUED,
        seconds_ago=answering.QUEUE_GIVE_UP_SECONDS + 5,
    )
    assert answering.whereabouts(answer.pk) == answering.SETTLED
    answer.refresh_from_db()
    turn = turn_for(answer)
    assert answer.error_kind == "queue" and "worker" not in answer.error
    assert turn.failure_heading == "No answer." and turn.offers_retry
    assert f"{answer.error} {turn.after_failure}".lower().count("retry") == 1
