"""Handing an answer to its queue: local models on their own, so a slow one never delays
external calls; the answer waits for the sweeper when the broker is down."""

import logging

from django.db import connection
from django.utils import timezone

from chat import streams
from chat.models import Message
from chat.tasks import generate_answer
from config.broker import publish
from config.commits import may_skip_wait, unawaited
from config.prepared import hot_cursor
from governance.models import Backend

logger = logging.getLogger(__name__)


def enqueue_answer(
    message_id: int, queue: str | None = None, *, written_queued: bool = False
) -> bool:
    """Hand a pending answer to its queue; if the broker is down, the row waits for the sweeper.

    Safe to call more than once: the task claims its answer with a conditional
    update, so a second delivery finds nothing to do. ``queue`` is looked up
    when the caller does not know it. The push sets the answer's queued mark
    (:func:`chat.streams.queued_key`) with it. ``written_queued``: the row is
    QUEUED already (a new message's answer); else PENDING → QUEUED after the push.
    """
    if queue is None:
        waiting = _waiting(message_id)
        hosting = waiting.values_list("backend__hosting_class", flat=True).first()
        if hosting is None and not waiting.exists():
            return False
        queue = queue_for_hosting(hosting)
    marker = (streams.queued_key(message_id), streams.QUEUED_TTL_SECONDS)
    try:
        publish(generate_answer, queue, message_id, marker=marker)
    except Exception as exc:  # the broker's many ways of being unreachable
        logger.warning("answer #%s waits for the queue: %s", message_id, type(exc).__name__)
        # Waiting for the queue, as its author sees: the sweeper tries again in a while.
        _waiting(message_id).update(status=Message.Status.PENDING, enqueued_at=timezone.now())
        return False
    if not written_queued:
        _mark_queued(message_id)
    return True


def _waiting(message_id: int):
    # Built only where needed: the ORM's filter cost a third of a millisecond of CPU, on the
    # way of every answer to its worker.
    return Message.objects.filter(
        pk=message_id, status__in=(Message.Status.PENDING, Message.Status.QUEUED)
    )


def _mark_queued(message_id: int) -> None:
    """PENDING → QUEUED, in SQL written once (building the ORM's update took longer than
    running it, on the way of every answer to its worker), committed without waiting for
    the disk: lost in a crash, the answer is PENDING again and the sweeper queues it anew
    (the task claims it once however often it is delivered)."""
    with hot_cursor() as cursor:
        cursor.execute(
            _MARK_QUEUED_UNAWAITED if may_skip_wait() else _MARK_QUEUED,
            [
                Message.Status.QUEUED.value,
                connection.ops.adapt_datetimefield_value(timezone.now()),
                message_id,
                Message.Status.PENDING.value,
            ],
        )


_MARK_QUEUED_SET = f"UPDATE {Message._meta.db_table} SET status = %s, enqueued_at = %s"
_MARK_QUEUED_WHERE = "WHERE id = %s AND status = %s"
_MARK_QUEUED = f"{_MARK_QUEUED_SET} {_MARK_QUEUED_WHERE}"
_MARK_QUEUED_UNAWAITED = unawaited(_MARK_QUEUED_SET, _MARK_QUEUED_WHERE)


def queue_for(backend: Backend | None) -> str:
    """Local models on their own queue, so a slow one never delays external calls."""
    return queue_for_hosting(backend.hosting_class if backend is not None else None)


def queue_for_hosting(hosting_class: str | None) -> str:
    return "inference_local" if hosting_class == "on_prem" else "inference_external"
