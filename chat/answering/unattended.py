"""Answers nobody is at: handed on to the queue, failed, or stopped, where their author
sees it.

The sweeper (:func:`sweep`, on beat) hands on what never reached the queue or lost its
worker; whoever waits on an answer applies the same rules to it (:func:`still_on_its_way`);
a stop its author presses is stored at once when no worker is at it
(:func:`stop_unattended`).
"""

import logging
import time

import redis
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from chat import streams
from chat.answering.liveness import ALIVE_TTL_SECONDS, _silent_for
from chat.answering.settling import _end_stream, _record_failure, _record_response, _set_text
from chat.models import Message

logger = logging.getLogger(__name__)

#: Silent this long after it started: the sweeper queues it again, to be taken over.
RESUME_AFTER_SECONDS = 10
#: ... at most this often per answer.
RESUME_EVERY_SECONDS = 15
#: Silent this long since its last heartbeat (or its claim), and nobody took it over in
#: the meantime: the sweeper fails it.
GIVE_UP_AFTER_SECONDS = 90
#: A saved answer that never reached the queue is handed to it again after this.
REQUEUE_AFTER_SECONDS = 5
#: Queued this long without a worker taking it: its page says the model has not started.
NOT_STARTED_AFTER_SECONDS = 30
#: Queued this long without a worker taking it: give up, visibly.
QUEUE_GIVE_UP_SECONDS = 15 * 60
#: Where an answer is, as one waiting on it sees it (:func:`whereabouts`).
SETTLED, ON_ITS_WAY, NOT_STARTED = "settled", "on its way", "not started"
#: Why an answer failed, for its author: its worker was lost (what it had streamed is kept),
#: or no worker took it from the queue.
LOST = "Steward lost its connection to the model."
NOT_TAKEN = "The model never started on this answer: it was busy, or down."


def sweep() -> dict[str, int]:
    """Beat, every few seconds: hand on what never reached the queue or lost its worker.

    1. A PENDING answer (saved while the broker was down) is queued again, and so is a
       QUEUED one without its queued mark in Redis: written as queued, it was never
       pushed (its process died first), or Redis lost it (restarted, or flushed).
    2. A STREAMING answer whose heartbeat stopped (its worker was killed) is
       queued again, and the task takes it over. Celery's own redelivery does
       the same when the worker dies holding the task, but not when the task
       was already handed on: a redelivered copy that found the worker still
       alive stepped aside, and the broker has nothing left to redeliver.
    3. An answer nobody took over in ``GIVE_UP_AFTER_SECONDS`` since it was last
       seen alive (its last heartbeat, or its claim), or that no worker picked
       from the queue in ``QUEUE_GIVE_UP_SECONDS``, is failed where its author
       sees it, with a Retry.
    """
    from chat.services import enqueue_answer

    now = timezone.now()
    requeue_before = now - timezone.timedelta(seconds=REQUEUE_AFTER_SECONDS)
    pending = Message.objects.filter(status=Message.Status.PENDING).filter(
        Q(enqueued_at__isnull=True, created_at__lt=requeue_before)
        | Q(enqueued_at__lt=requeue_before)
    )
    requeued = sum(enqueue_answer(pk) for pk in pending.values_list("pk", flat=True)[:500])
    queued = Message.objects.filter(
        status=Message.Status.QUEUED,
        enqueued_at__lt=requeue_before,
        enqueued_at__gte=now - timezone.timedelta(seconds=QUEUE_GIVE_UP_SECONDS),
    )
    requeued += sum(
        enqueue_answer(pk, written_queued=True)
        for pk in _unmarked(queued.values_list("pk", flat=True)[:500])
    )
    resumed = failed = 0
    silent = Message.objects.filter(
        status=Message.Status.STREAMING,
        started_at__lt=now - timezone.timedelta(seconds=RESUME_AFTER_SECONDS),
    ).select_related("backend")
    for answer in silent[:500]:
        alive, seen, _ = streams.liveness(answer.public_id)
        if alive:
            continue
        if _silent_for(answer, seen, now) > GIVE_UP_AFTER_SECONDS:
            failed += _give_up(answer, LOST, "lost")
        else:
            resumed += _resume(answer, now)
    forgotten = Message.objects.filter(
        status=Message.Status.QUEUED,
        enqueued_at__lt=now - timezone.timedelta(seconds=QUEUE_GIVE_UP_SECONDS),
    )
    for answer in forgotten[:500]:
        failed += _give_up(answer, NOT_TAKEN, "queue")
    return {"requeued": requeued, "resumed": resumed, "failed": failed}


def still_on_its_way(message_id: int) -> bool:
    """Whether the answer is still on its way (:func:`whereabouts`)."""
    return whereabouts(message_id) != SETTLED


def whereabouts(message_id: int) -> str:
    """Where the answer is, as one waiting on its stream sees it after a silence (the page's
    stream, the API following a worker's answer): ``SETTLED``, ``ON_ITS_WAY``, or
    ``NOT_STARTED``: queued past ``NOT_STARTED_AFTER_SECONDS`` (its model busy, or its
    worker down), which its page says.

    One the sweeper would fail, it fails here, the same way (:func:`_give_up`): silent past
    ``GIVE_UP_AFTER_SECONDS`` with no heartbeat, or queued past ``QUEUE_GIVE_UP_SECONDS``.
    The sweeper runs on a worker, and that may be the worker that is down; a waiting page
    would otherwise show its answer on its way for as long as it stays down. One whose
    author asked to stop it, and whose worker shows no heartbeat, is stored as stopped (the
    stop was pressed while the heartbeat of a worker just lost still lived).
    """
    answer = Message.objects.filter(pk=message_id).in_flight().first()
    if answer is None:
        return SETTLED
    now = timezone.now()
    if answer.status == Message.Status.QUEUED and _queued_for(answer, now) > QUEUE_GIVE_UP_SECONDS:
        return SETTLED if _give_up(answer, NOT_TAKEN, "queue") else ON_ITS_WAY
    if answer.status != Message.Status.STREAMING:  # waiting for its worker
        return NOT_STARTED if _queued_for(answer, now) > NOT_STARTED_AFTER_SECONDS else ON_ITS_WAY
    if _silent_for(answer, None, now) < ALIVE_TTL_SECONDS:
        return ON_ITS_WAY  # claimed a moment ago
    alive, seen, stop_asked = streams.liveness(answer.public_id)
    silent = 0 if alive else _silent_for(answer, seen, now)
    if stop_asked and silent > ALIVE_TTL_SECONDS:  # pressed as (or after) its worker was lost
        return SETTLED if _store_stopped(answer) else ON_ITS_WAY
    if silent > GIVE_UP_AFTER_SECONDS:
        return SETTLED if _give_up(answer, LOST, "lost") else ON_ITS_WAY
    return ON_ITS_WAY


def _queued_for(answer: Message, now) -> float:
    """How long an answer not yet claimed has waited in the queue, in seconds (0 if it never
    reached it)."""
    waited_since = answer.enqueued_at
    return 0 if waited_since is None else (now - waited_since).total_seconds()


def _unmarked(message_ids) -> list[int]:
    """The queued answers whose queued mark is gone (none if Redis cannot say)."""
    message_ids = list(message_ids)
    if not message_ids:
        return []
    try:
        with streams.client().pipeline(transaction=False) as marks:
            for message_id in message_ids:
                marks.exists(streams.queued_key(message_id))
            found = marks.execute()
    except redis.RedisError as exc:
        logger.warning("queued answers not checked: %s", type(exc).__name__)
        return []
    return [message_id for message_id, mark in zip(message_ids, found, strict=True) if not mark]


def _resume(answer: Message, now) -> bool:
    """Queue a silent answer's task again (at most every ``RESUME_EVERY_SECONDS``)."""
    from chat.services import queue_for
    from chat.tasks import generate_answer

    recently = now - timezone.timedelta(seconds=RESUME_EVERY_SECONDS)
    marked = (
        Message.objects.filter(pk=answer.pk, status=Message.Status.STREAMING)
        # Not queued since it (re)started, or not recently: a new message's answer carries
        # the moment it was written as queued, before its worker claimed it.
        .filter(
            Q(enqueued_at__isnull=True)
            | Q(enqueued_at__lt=recently)
            | Q(enqueued_at__lte=F("started_at"))
        )
        .update(enqueued_at=now)
    )
    if not marked:
        return False
    try:
        generate_answer.apply_async(args=[answer.pk], queue=queue_for(answer.backend))
    except Exception as exc:  # the broker is down: the next sweep tries again
        logger.warning("answer %s not resumed: %s", answer.public_id, type(exc).__name__)
        return False
    return True


def _give_up(answer: Message, error: str, kind: str) -> bool:
    """Fail an answer nobody is at, as read (its status and attempt: one taken over since,
    or settled, is left to whoever holds it now), with its audit event, keeping what its
    worker streamed (as a stop does). Whether it did."""
    answer.error = error
    fields = {
        "status": Message.Status.FAILED,
        "error_sealed": answer.error_sealed,
        "error_kind": kind,
        "finished_at": timezone.now(),
        **_text_so_far(answer),
    }
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=answer.pk, status=answer.status, attempt=answer.attempt
        ).update(**fields)
        if updated:
            _record_failure(answer, kind, stage="worker")
    if updated:
        _end_stream(answer, Message.Status.FAILED)
    return bool(updated)


def stop_unattended(answer: Message) -> bool:
    """Store an answer on its way as stopped at once, with its ``chat.response`` event
    (cancelled, as a stop its worker saw records), if no worker is at it; whether it did.

    No worker is at an answer not yet claimed (PENDING, QUEUED; a worker that takes it
    later finds nothing to claim, and calls no backend), nor at one whose worker shows no
    heartbeat (killed, or its worker is down: a take-over would honour the stop, but may
    never come). As read (its status and attempt): one claimed or taken over since is left
    to its worker, to be asked to stop.
    """
    if answer.status == Message.Status.STREAMING and not _unattended(answer):
        return False
    return _store_stopped(answer)


def _unattended(answer: Message) -> bool:
    """Whether no worker is at a STREAMING answer: it shows no heartbeat, and has shown none
    for a heartbeat's lifetime (a worker that stopped beating a moment ago is settling it;
    one that claimed it a moment ago may not have beaten yet: the API's first beat comes
    a heartbeat after its claim)."""
    try:
        alive, seen, _ = streams.liveness(answer.public_id)
    except redis.RedisError:  # no heartbeat shows, and no stop flag would reach a worker
        alive, seen = False, None
    return not alive and _silent_for(answer, seen, timezone.now()) > ALIVE_TTL_SECONDS


def _store_stopped(answer: Message) -> bool:
    """Stop the answer as read (its status and attempt), with its audit event, keeping what
    its worker streamed (as a stop the worker saw keeps what came)."""
    fields = {
        "status": Message.Status.CANCELLED,
        "finished_at": timezone.now(),
        **_text_so_far(answer),
    }
    with transaction.atomic():
        stopped = Message.objects.filter(
            pk=answer.pk, status=answer.status, attempt=answer.attempt
        ).update(**fields)
        if stopped:
            _record_response(answer, time.monotonic(), cancelled=True)
    if stopped:
        _end_stream(answer, Message.Status.CANCELLED)
        if answer.status == Message.Status.STREAMING:
            try:  # a worker alive after all (its beats lapsed) stops at its next look
                streams.request_cancel(answer.public_id)
            except redis.RedisError:
                logger.warning("could not ask the worker of %s to stop", answer.public_id)
    return bool(stopped)


def _text_so_far(answer: Message) -> dict:
    """The fields that keep what the answer's worker streamed before it was lost or stopped
    (none when nothing came: an answer on its way has no text stored yet)."""
    came = _streamed_so_far(answer) if answer.status == Message.Status.STREAMING else ""
    if not came:
        return {}
    _set_text(answer, came)
    return {"content_sealed": answer.content_sealed, "chars": answer.chars}


def _streamed_so_far(answer: Message) -> str:
    try:
        return streams.text_of(answer.public_id)
    except redis.RedisError:  # what came is lost with Redis; the stop is kept all the same
        return ""
