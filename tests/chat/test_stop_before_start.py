"""A Stop that no worker is there to see: the answer is stopped at once, and audited.

Queued (its worker busy or down) or claimed by a worker that shows no heartbeat (killed,
or down with the sweeper): nobody would store the stop for a long while, or ever. An
answer whose worker is alive is left to it (it stores what came).
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from chat import answering, services, streams
from chat.answering import settling
from chat.models import Message


def _sent(org, django_capture_on_commit_callbacks, status=Message.Status.QUEUED, **fields):
    """A question sent and its answer in ``status``, its task not run."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    Message.objects.filter(pk=sent.answer.pk).update(status=status, **fields)
    sent.answer.refresh_from_db()
    return conversation, sent.answer


def _claimed(org, django_capture_on_commit_callbacks, *, seconds_ago: float):
    started = timezone.now() - timedelta(seconds=seconds_ago)
    return _sent(
        org,
        django_capture_on_commit_callbacks,
        Message.Status.STREAMING,
        started_at=started,
        enqueued_at=started,
        attempt=1,
    )


def _outcomes(conversation) -> list[tuple[str, dict]]:
    """The conversation's chat events after its request, oldest first: (action, details)."""
    events = AuditEvent.objects.filter(
        target_id=str(conversation.public_id),
        action__in=[AuditEvent.Action.CHAT_RESPONSE, AuditEvent.Action.CHAT_FAILURE],
    ).order_by("sequence")
    return [(event.action, event.details) for event in events]


def _last_entry(answer) -> dict:
    return streams.client().xrevrange(streams.stream_key(answer.public_id), count=1)[0][1]


@pytest.mark.parametrize("status", [Message.Status.PENDING, Message.Status.QUEUED])
def test_a_stop_before_any_worker_took_the_answer_is_audited(
    org, django_capture_on_commit_callbacks, status
):
    conversation, answer = _sent(org, django_capture_on_commit_callbacks, status)
    services.cancel_answer(answer=answer, author=org.alice)
    answer.refresh_from_db()
    assert answer.status == Message.Status.CANCELLED and answer.finished_at is not None
    [(action, details)] = _outcomes(conversation)
    assert action == AuditEvent.Action.CHAT_RESPONSE
    assert details["cancelled"] is True and details["message"] == str(answer.public_id)
    assert _last_entry(answer) == {b"t": b"end", b"status": b"cancelled"}
    answering.generate_answer(answer.pk)  # its task, delivered late, calls no backend
    assert org.external.requests == []
    answer.refresh_from_db()
    assert answer.status == Message.Status.CANCELLED and len(_outcomes(conversation)) == 1


def test_the_stop_and_its_event_are_one_transaction(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """An event that cannot be written leaves the answer as it was: never stopped unaudited."""
    _, answer = _sent(org, django_capture_on_commit_callbacks)

    def trail_refuses(**kwargs):
        raise RuntimeError("audit trail unavailable")

    monkeypatch.setattr(settling, "record", trail_refuses)
    with pytest.raises(RuntimeError):
        services.cancel_answer(answer=answer, author=org.alice)
    answer.refresh_from_db()
    assert answer.status == Message.Status.QUEUED


def test_a_stop_on_an_answer_whose_worker_shows_no_heartbeat_is_stored_at_once(
    org, django_capture_on_commit_callbacks
):
    """Its worker was killed (or is down with the sweeper): the author can send the next
    message at once instead of being told an answer is still on its way. What came is kept."""
    conversation, answer = _claimed(org, django_capture_on_commit_callbacks, seconds_ago=30)
    streams.begin_answer(answer.public_id, 1, alive_ttl_seconds=30)
    streams.AnswerWriter(answer.public_id).chunk("Half an ")
    streams.client().delete(streams.alive_key(answer.public_id))  # killed: its beat lapsed
    last_beat = time.time() - answering.ALIVE_TTL_SECONDS - 1
    streams.client().set(streams.seen_key(answer.public_id), last_beat, ex=60)
    services.cancel_answer(answer=answer, author=org.alice)
    answer.refresh_from_db()
    assert (answer.status, answer.content) == (Message.Status.CANCELLED, "Half an ")
    [(action, details)] = _outcomes(conversation)
    assert action == AuditEvent.Action.CHAT_RESPONSE
    assert (details["cancelled"], details["chars"]) == (True, len("Half an "))
    assert _last_entry(answer) == {b"t": b"end", b"status": b"cancelled"}
    assert streams.poll(answer.public_id)[0]  # a worker alive after all stops at its next look
    with django_capture_on_commit_callbacks(execute=False):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Next")
    assert sent.answer is not None
    answering.generate_answer(answer.pk)  # a redelivered copy finds nothing to take over
    assert org.external.requests == []


def test_a_stop_on_an_answer_whose_worker_is_alive_is_left_to_it(
    org, django_capture_on_commit_callbacks
):
    conversation, answer = _claimed(org, django_capture_on_commit_callbacks, seconds_ago=30)
    streams.begin_answer(answer.public_id, 1, alive_ttl_seconds=30)  # beating
    services.cancel_answer(answer=answer, author=org.alice)
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING and _outcomes(conversation) == []
    assert streams.poll(answer.public_id)[0]  # its worker is asked, and stores what came
    streams.forget(answer.public_id)


def test_a_stop_just_after_the_claim_waits_for_the_first_heartbeat(
    org, django_capture_on_commit_callbacks
):
    """Claimed a moment ago, the answer may have no heartbeat yet (the API's first comes a
    beat after its claim): its worker is asked, not overruled."""
    conversation, answer = _claimed(org, django_capture_on_commit_callbacks, seconds_ago=0)
    services.cancel_answer(answer=answer, author=org.alice)
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING and _outcomes(conversation) == []
    assert streams.poll(answer.public_id)[0]
    streams.forget(answer.public_id)


def test_a_stop_just_after_the_worker_stopped_beating_is_left_to_it(
    org, django_capture_on_commit_callbacks
):
    """Its last heartbeat ended a moment ago: the worker is storing the answer it finished."""
    conversation, answer = _claimed(org, django_capture_on_commit_callbacks, seconds_ago=30)
    streams.begin_answer(answer.public_id, 1, alive_ttl_seconds=30)
    streams.stop_beat(answer.public_id)  # done streaming; the settle comes next
    services.cancel_answer(answer=answer, author=org.alice)
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING and _outcomes(conversation) == []
    streams.forget(answer.public_id)


def test_a_stop_that_a_claim_overtakes_is_left_to_the_worker(
    org, django_capture_on_commit_callbacks
):
    """Read as queued, claimed before the stop is written: the stop goes to the worker as a
    flag (which it reads as it begins, before calling the backend), not over its head."""
    conversation, answer = _sent(org, django_capture_on_commit_callbacks)
    Message.objects.filter(pk=answer.pk).update(
        status=Message.Status.STREAMING, started_at=timezone.now(), attempt=1
    )
    services.cancel_answer(answer=answer, author=org.alice)  # as read: queued
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING and _outcomes(conversation) == []
    assert streams.poll(answer.public_id)[0]
    streams.forget(answer.public_id)
