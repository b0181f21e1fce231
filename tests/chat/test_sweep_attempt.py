"""A failure for a lost worker never lands on an answer another worker has just taken over.

The sweeper (or a page waiting on the answer) reads a silent answer, and a redelivered
task takes it over before the failure is written: the failure, conditional on the
attempt it read, writes nothing, and the new attempt's answer is kept (it was sent to
the backend: failing it would throw that away).
"""

import time
from datetime import timedelta

from django.utils import timezone

from audit.models import AuditEvent
from chat import answering, services, streams
from chat.models import Message


def _lost(org, django_capture_on_commit_callbacks):
    """An answer whose worker went silent long ago (killed, and nobody took it over yet)."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    started = timezone.now() - timedelta(seconds=300)
    Message.objects.filter(pk=sent.answer.pk).update(
        status=Message.Status.STREAMING, enqueued_at=started, started_at=started, attempt=1
    )
    last_beat = time.time() - answering.GIVE_UP_AFTER_SECONDS - 1
    streams.client().set(streams.seen_key(sent.answer.public_id), last_beat, ex=60)
    sent.answer.refresh_from_db()
    return sent.answer


def _taken_over_while_read(monkeypatch, answer):
    """The liveness read (the sweeper's, a waiting page's) is followed at once by a
    redelivered task taking the answer over: the real take-over, as its task runs it."""
    liveness = streams.liveness

    def read_then_taken_over(public_id):
        found = liveness(public_id)
        assert answering._taken_over(answer.pk)
        return found

    monkeypatch.setattr(streams, "liveness", read_then_taken_over)


def _failures() -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_FAILURE).count()


def test_the_sweeper_leaves_an_answer_taken_over_after_it_looked(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    answer = _lost(org, django_capture_on_commit_callbacks)
    _taken_over_while_read(monkeypatch, answer)
    assert answering.sweep()["failed"] == 0
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.STREAMING, 2)
    assert _failures() == 0


def test_a_waiting_page_leaves_an_answer_taken_over_after_it_looked(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    answer = _lost(org, django_capture_on_commit_callbacks)
    _taken_over_while_read(monkeypatch, answer)
    assert answering.still_on_its_way(answer.pk)
    answer.refresh_from_db()
    assert (answer.status, answer.attempt) == (Message.Status.STREAMING, 2)
    assert _failures() == 0


def test_the_attempt_that_took_over_answers_and_is_kept(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """The whole race as the reviewer saw it: the sweeper looks, a redelivered task takes
    over and calls the backend; its answer is stored, not thrown away after a failure."""
    answer = _lost(org, django_capture_on_commit_callbacks)
    _taken_over_while_read(monkeypatch, answer)
    answering.sweep()
    # The attempt that took over goes on (as generate_answer does): its stream, its
    # backend call, its settle.
    claimed = answering._claimed_answer(answer.pk)
    with streams.held_writer(answer.public_id) as writer:
        streams.begin_answer(answer.public_id, claimed.attempt, alive_ttl_seconds=5)
        answering._produce(claimed, answering.read_version(), writer)
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE and answer.content == "Hello from the API."
    assert len(org.external.requests) == 1 and _failures() == 0


def test_a_lost_answer_nobody_took_over_is_still_failed_once(
    org, django_capture_on_commit_callbacks
):
    answer = _lost(org, django_capture_on_commit_callbacks)
    assert answering.sweep()["failed"] == 1
    assert not answering.still_on_its_way(answer.pk)  # a waiting page finds it settled
    assert answering.sweep()["failed"] == 0
    answer.refresh_from_db()
    assert (answer.status, answer.error_kind) == (Message.Status.FAILED, "lost")
    assert _failures() == 1
