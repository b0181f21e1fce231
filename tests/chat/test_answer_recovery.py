"""An answer whose worker dies, or whose conversation goes, while it streams.

Celery runs eagerly here; the fake backends and Redis are real.
"""

import time
from datetime import timedelta

from django.utils import timezone

from chat import answering, services, streams
from chat.answering import production
from chat.models import Message


def _queued(org, django_capture_on_commit_callbacks, text="Hello"):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):  # queued, not yet answered
        sent = services.send_message(conversation=conversation, author=org.alice, text=text)
    return conversation, sent.answer


def _silent(org, django_capture_on_commit_callbacks, *, started_seconds_ago: float):
    """An answer a worker claimed and then went silent (killed: no heartbeat key)."""
    conversation, answer = _queued(org, django_capture_on_commit_callbacks)
    started = timezone.now() - timedelta(seconds=started_seconds_ago)
    Message.objects.filter(pk=answer.pk).update(
        status=Message.Status.STREAMING,
        enqueued_at=started,  # written as queued, then claimed
        started_at=started,
        attempt=1,
    )
    answer.refresh_from_db()
    return answer


def test_deleting_a_conversation_while_its_answer_streams_leaves_no_text_in_redis(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """The delete stops the worker, and nothing it writes afterwards outlives the
    conversation in Redis (a chunk does not bring the dropped stream back)."""
    monkeypatch.setattr(production, "CANCEL_POLL_SECONDS", 0)  # the flag looked at every chunk
    org.external.reply = [f"zebra-secret-{n} " for n in range(10)]
    org.external.delay = 0.05
    conversation, answer = _queued(org, django_capture_on_commit_callbacks)
    chunk = streams.AnswerWriter.chunk
    written = []

    def chunk_then_owner_deletes(self, text):
        chunk(self, text)
        written.append(text)
        if len(written) == 1:
            with django_capture_on_commit_callbacks(execute=True):
                services.delete_conversation(conversation=conversation, actor=org.alice)

    monkeypatch.setattr(streams.AnswerWriter, "chunk", chunk_then_owner_deletes)
    answering.generate_answer(answer.pk)
    assert not Message.objects.filter(pk=answer.pk).exists()
    assert len(written) <= 2  # stopped at its next look
    key = streams.stream_key(answer.public_id)
    left, ttl = streams.text_of(answer.public_id), streams.client().ttl(key)
    streams.client().delete(key)
    assert left == "", f"answer text outlives its deleted conversation: {left!r} (ttl {ttl})"


def test_a_settle_that_finds_its_answer_deleted_drops_its_stream(
    org, django_capture_on_commit_callbacks
):
    """The conversation went before the worker began its stream (or while a chunk made it
    again): the settle, which updates no row, drops it, since no `end` will expire it."""
    answer = _silent(org, django_capture_on_commit_callbacks, started_seconds_ago=1)
    with streams.held_writer(answer.public_id) as writer:
        streams.begin_answer(answer.public_id, 1, alive_ttl_seconds=5)
        writer.chunk("secret ")
        Message.objects.filter(pk=answer.pk).delete()
        answering.settle(answer, writer, answering.Progress(text="secret "))
    assert not streams.client().exists(streams.stream_key(answer.public_id))


def test_a_settle_that_was_taken_over_leaves_the_new_attempts_stream(
    org, django_capture_on_commit_callbacks
):
    answer = _silent(org, django_capture_on_commit_callbacks, started_seconds_ago=1)
    with streams.held_writer(answer.public_id) as writer:
        Message.objects.filter(pk=answer.pk).update(attempt=2)  # another worker took over
        streams.begin_answer(answer.public_id, 2, alive_ttl_seconds=5)
        writer.chunk("the new attempt's ")
        answering.settle(answer, writer, answering.Progress(text="the old attempt's"))
    assert streams.text_of(answer.public_id) == "the new attempt's "
    streams.forget(answer.public_id)


def test_a_stop_pressed_while_the_worker_was_silent_is_not_answered_again(
    org, django_capture_on_commit_callbacks
):
    """The answer's worker died; its author presses Stop (the answer seems stuck). The
    redelivered task that takes it over stops it without calling the backend."""
    answer = _silent(org, django_capture_on_commit_callbacks, started_seconds_ago=30)
    services.cancel_answer(answer=answer, author=org.alice)  # silent 30 s: stopped at once
    answering.generate_answer(answer.pk)  # Celery's redelivery takes it over
    answer.refresh_from_db()
    assert org.external.requests == []
    assert (answer.status, answer.content) == (Message.Status.CANCELLED, "")
    entries = streams.client().xrange(streams.stream_key(answer.public_id))
    assert entries[-1][1] == {b"t": b"end", b"status": b"cancelled"}


def test_a_long_answer_whose_worker_just_died_is_taken_over_not_failed(
    org, django_capture_on_commit_callbacks
):
    """Give-up is counted from the answer's last heartbeat, not from when it started: an
    answer that streamed for two minutes before its worker was restarted is taken over
    (the sweeper is its only rescue: the broker's redelivered copies stepped aside)."""
    answer = _silent(org, django_capture_on_commit_callbacks, started_seconds_ago=120)
    streams.begin_answer(answer.public_id, 1, alive_ttl_seconds=30)  # beat until a moment ago
    streams.AnswerWriter(answer.public_id).chunk("Half an answer ")
    streams.client().delete(streams.alive_key(answer.public_id))  # killed: its beat expired
    assert answering.sweep() == {"requeued": 0, "resumed": 1, "failed": 0}
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.DONE, 2)


def test_an_answer_silent_since_long_ago_is_failed_by_the_sweeper(
    org, django_capture_on_commit_callbacks
):
    answer = _silent(org, django_capture_on_commit_callbacks, started_seconds_ago=300)
    last_beat = time.time() - answering.GIVE_UP_AFTER_SECONDS - 1
    streams.client().set(streams.seen_key(answer.public_id), last_beat, ex=60)
    assert answering.sweep() == {"requeued": 0, "resumed": 0, "failed": 1}
    answer.refresh_from_db()
    assert answer.status == Message.Status.FAILED and org.external.requests == []


def test_a_sweep_between_the_last_beat_and_the_settle_does_not_fail_the_answer(
    org, django_capture_on_commit_callbacks
):
    """The worker stops its heartbeat, then settles: a sweep in between finds a long answer
    not alive, but seen a moment ago, and leaves it to its worker (a re-queued copy finds
    it settled) instead of failing it as lost."""
    answer = _silent(org, django_capture_on_commit_callbacks, started_seconds_ago=300)
    streams.begin_answer(answer.public_id, 1, alive_ttl_seconds=30)
    streams.stop_beat(answer.public_id)  # done streaming; the settle comes next
    assert answering.sweep()["failed"] == 0
    answer.refresh_from_db()
    assert answer.status != Message.Status.FAILED
