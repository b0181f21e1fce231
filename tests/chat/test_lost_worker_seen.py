"""An answer whose worker is down is failed by whoever waits on it, not only by the sweeper.

The sweeper runs on the worker that serves ``inference_external`` and ``maintenance``:
with that worker down, nothing else failed its lost answers, and the page showed
"Answering…" for as long as it stayed down. The page's stream (and the API following a
worker's answer) look at the heartbeat after a silence, and fail the answer with the
sweeper's own rule and update.
"""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from chat import answering, services, streaming, streams
from chat.answering import following
from chat.models import Message


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch):
    """A silence of 0.1 s is enough to look, and a connection that never hears the end
    closes after 2 s (the page would reconnect; the test reads what it was sent)."""
    monkeypatch.setattr(streaming, "BLOCK_MS", 100)
    monkeypatch.setattr(streaming, "MAX_CONNECTION_SECONDS", 2)
    monkeypatch.setattr(following, "FOLLOW_SILENCE_MS", 100)


def _answer(org, django_capture_on_commit_callbacks, status, *, seconds_ago: float):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    since = timezone.now() - timedelta(seconds=seconds_ago)
    claimed = {"started_at": since, "attempt": 1} if status == Message.Status.STREAMING else {}
    Message.objects.filter(pk=sent.answer.pk).update(status=status, enqueued_at=since, **claimed)
    sent.answer.refresh_from_db()
    return conversation, sent.answer


def _streamed_then_silent(answer, *, last_beat: float, alive: bool = False) -> None:
    """The worker began the answer's stream, wrote some words, and beat last at
    ``last_beat`` (a Unix time); ``alive``: it beats on (only slow to write)."""
    streams.begin_answer(answer.public_id, answer.attempt, alive_ttl_seconds=60)
    streams.AnswerWriter(answer.public_id).chunk("Half an ")
    streams.client().set(streams.seen_key(answer.public_id), last_beat, ex=60)
    if not alive:
        streams.client().delete(streams.alive_key(answer.public_id))


def _page_reads(client, answer) -> list[str]:
    """The event names the answer's stream sends the page, until it ends or closes."""
    response = client.get(
        reverse("chat:stream", args=[answer.public_id]), HTTP_ACCEPT="text/event-stream"
    )

    async def consume():
        return [part async for part in response.streaming_content]

    body = b"".join(async_to_sync(consume)()).decode()
    return [line.removeprefix("event: ") for line in body.split("\n") if line.startswith("event:")]


def _failures(conversation) -> list[dict]:
    return [
        event.details
        for event in AuditEvent.objects.filter(
            target_id=str(conversation.public_id), action=AuditEvent.Action.CHAT_FAILURE
        )
    ]


def test_the_page_fails_an_answer_whose_worker_is_gone_with_the_sweeper(
    client, org, django_capture_on_commit_callbacks
):
    conversation, answer = _answer(
        org, django_capture_on_commit_callbacks, Message.Status.STREAMING, seconds_ago=300
    )
    _streamed_then_silent(answer, last_beat=time.time() - answering.GIVE_UP_AFTER_SECONDS - 1)
    client.force_login(org.alice)
    assert _page_reads(client, answer) == ["chunk", "end"]
    answer.refresh_from_db()
    assert (answer.status, answer.error_kind) == (Message.Status.FAILED, "lost")
    assert answer.error == answering.LOST
    [failure] = _failures(conversation)
    assert (failure["stage"], failure["kind"]) == ("worker", "lost")
    turn = client.get(reverse("chat:turn", args=[answer.public_id])).content.decode()
    assert reverse("chat:retry", args=[answer.public_id]) in turn
    with django_capture_on_commit_callbacks(execute=False):  # no longer "still on its way"
        sent = services.send_message(conversation=conversation, author=org.alice, text="Next")
    assert sent.answer is not None


def test_the_page_leaves_a_slow_answer_whose_worker_beats_on(
    client, org, django_capture_on_commit_callbacks
):
    """Silent for long (a reasoning model thinking), but its worker is alive: on its way."""
    conversation, answer = _answer(
        org, django_capture_on_commit_callbacks, Message.Status.STREAMING, seconds_ago=300
    )
    _streamed_then_silent(answer, last_beat=time.time(), alive=True)
    client.force_login(org.alice)
    assert _page_reads(client, answer) == ["chunk"]  # closed for a reconnect, not ended
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING and _failures(conversation) == []
    streams.forget(answer.public_id)


def test_the_page_leaves_an_answer_seen_within_the_give_up_time(
    client, org, django_capture_on_commit_callbacks
):
    """No heartbeat, but one a minute ago: a take-over may yet come (the sweeper's rule)."""
    conversation, answer = _answer(
        org, django_capture_on_commit_callbacks, Message.Status.STREAMING, seconds_ago=300
    )
    _streamed_then_silent(answer, last_beat=time.time() - 60)
    client.force_login(org.alice)
    assert _page_reads(client, answer) == ["chunk"]
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING and _failures(conversation) == []
    streams.forget(answer.public_id)


def test_the_page_stores_a_stop_pressed_while_a_lost_workers_heartbeat_still_lived(
    client, org, django_capture_on_commit_callbacks
):
    """Pressed within seconds of the worker's death, the stop went to it as a flag; once its
    heartbeat has lapsed, the page's stream stores the stop (nobody else would: the
    sweeper may be down with the worker), not 90 s later as lost."""
    conversation, answer = _answer(
        org, django_capture_on_commit_callbacks, Message.Status.STREAMING, seconds_ago=300
    )
    _streamed_then_silent(answer, last_beat=time.time(), alive=True)
    services.cancel_answer(answer=answer, author=org.alice)
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING  # its worker was asked
    # The worker was killed: its heartbeat lapses, a heartbeat's lifetime after the last.
    streams.client().delete(streams.alive_key(answer.public_id))
    last_beat = time.time() - answering.ALIVE_TTL_SECONDS - 1
    streams.client().set(streams.seen_key(answer.public_id), last_beat, ex=60)
    client.force_login(org.alice)
    assert _page_reads(client, answer) == ["chunk", "end"]
    answer.refresh_from_db()
    assert (answer.status, answer.content) == (Message.Status.CANCELLED, "Half an ")
    assert _failures(conversation) == []
    [response] = AuditEvent.objects.filter(
        target_id=str(conversation.public_id), action=AuditEvent.Action.CHAT_RESPONSE
    )
    assert response.details["cancelled"] is True


def test_the_page_fails_an_answer_no_worker_took_from_the_queue_in_time(
    client, org, django_capture_on_commit_callbacks
):
    conversation, answer = _answer(
        org,
        django_capture_on_commit_callbacks,
        Message.Status.QUEUED,
        seconds_ago=answering.QUEUE_GIVE_UP_SECONDS + 1,
    )
    client.force_login(org.alice)
    assert _page_reads(client, answer) == ["end"]
    answer.refresh_from_db()
    assert (answer.status, answer.error_kind) == (Message.Status.FAILED, "queue")
    assert [failure["kind"] for failure in _failures(conversation)] == ["queue"]


def test_the_api_following_a_workers_answer_fails_it_when_the_worker_is_gone(
    org, django_capture_on_commit_callbacks
):
    """The API hands the built-in model's answers to a worker and follows their stream."""
    conversation, answer = _answer(
        org, django_capture_on_commit_callbacks, Message.Status.STREAMING, seconds_ago=300
    )
    _streamed_then_silent(answer, last_beat=time.time() - answering.GIVE_UP_AFTER_SECONDS - 1)
    written = []
    progress = answering.follow(answer, SimpleNamespace(chunk=written.append), limit_seconds=5)
    assert written == ["Half an "]
    assert (progress.error, progress.error_kind) == (answering.LOST, "lost")
    answer.refresh_from_db()
    assert answer.status == Message.Status.FAILED and len(_failures(conversation)) == 1
