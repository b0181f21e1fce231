"""Claiming an answer for one attempt, once however often its task is delivered, or taking
over one whose worker went silent.

The attempt number says which worker owns the answer: only the attempt that still owns it
settles it (:mod:`chat.answering.settling`).
"""

import logging

from django.db import connection
from django.db.models import F
from django.utils import timezone

from chat.answering.liveness import _still_beating
from chat.answering.unattended import LOST, _give_up
from chat.models import Conversation, Message
from config.commits import may_skip_wait, unawaited
from config.rows import Prebuilt
from governance.models import Backend, Category, User
from governance.policy_cache import Version, read_version, version_columns, version_of

logger = logging.getLogger(__name__)

#: How many times an answer is started before an interrupted one is failed instead; each
#: ask (the first, each Retry) has as many (see :func:`retried_attempt`).
MAX_ATTEMPTS = 3


def _claim(message_id: int) -> tuple[Message, Version] | None:
    """PENDING or QUEUED → STREAMING, as a new attempt: the answer as :func:`_claimed_answer`
    reads it and the policy version, or None when another delivery got there first. On
    PostgreSQL, one statement whose SQL is built once (the update, the read and the
    version were three round trips, on the way to the first token), committed without
    waiting for the disk (:mod:`config.commits`): lost in a crash, the answer is QUEUED
    again, as if this delivery had come later."""
    params = [
        Message.Status.STREAMING,
        connection.ops.adapt_datetimefield_value(timezone.now()),
        message_id,
        Message.Status.PENDING,
        Message.Status.QUEUED,
    ]
    if connection.vendor == "postgresql":
        found = (_CLAIMING_UNAWAITED if may_skip_wait() else _CLAIMING).one(params)
        return None if found is None else (_answer_of(found[:-2]), version_of(*found[-2:]))
    with connection.cursor() as cursor:
        cursor.execute(f"{_CLAIM_UPDATE} RETURNING id", params)
        claimed = cursor.fetchone() is not None
    return (_claimed_answer(message_id), read_version()) if claimed else None


_CLAIM_SET = (
    f"UPDATE {Message._meta.db_table} SET status = %s, started_at = %s, attempt = attempt + 1"
)
_CLAIM_WHERE = "WHERE id = %s AND status IN (%s, %s)"
_CLAIM_UPDATE = f"{_CLAIM_SET} {_CLAIM_WHERE}"


def _taken_over(message_id: int) -> bool:
    """Whether this attempt restarts an answer whose worker went silent."""
    answer = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).first()
    if answer is None or _still_beating(answer):
        return False  # finished, or someone is still working on it
    if answer.attempt % MAX_ATTEMPTS == 0:  # the last of its ask's (see retried_attempt)
        _give_up(answer, LOST, "lost")
        return False
    taken = Message.objects.filter(
        pk=message_id, status=Message.Status.STREAMING, attempt=answer.attempt
    ).update(started_at=timezone.now(), attempt=F("attempt") + 1)
    if taken:
        logger.info("answer %s taken over after its worker went silent", answer.public_id)
    return bool(taken)


def retried_attempt(attempt: int) -> int:
    """The attempt a retried answer counts on from: the last of its previous ask's block of
    ``MAX_ATTEMPTS`` numbers. A Retry gets all its take-overs, and the attempt only grows:
    it says which worker owns the answer (:func:`chat.answering.settling._settle`), and a
    worker still holding an earlier one must never own it again."""
    return -(-attempt // MAX_ATTEMPTS) * MAX_ATTEMPTS


def _claimed_joins() -> str:
    return (
        f"JOIN {Conversation._meta.db_table} c ON c.id = m.conversation_id "
        f"JOIN {Category._meta.db_table} k ON k.id = c.category_id "
        f"JOIN {User._meta.db_table} u ON u.id = c.owner_id "
        f"LEFT JOIN {Backend._meta.db_table} b ON b.id = m.backend_id"
    )


_CLAIMED_SOURCES = [
    (Message, "m"), (Conversation, "c"), (Category, "k"), (User, "u"), (Backend, "b")
]  # fmt: skip
_CLAIMED = Prebuilt(
    _CLAIMED_SOURCES, lambda: f"{Message._meta.db_table} m {_claimed_joins()} WHERE m.id = %s"
)


def _claiming(update: str) -> Prebuilt:
    """The claimed answer as :data:`_CLAIMED` reads it, from ``update`` (the claim)."""
    return Prebuilt(
        _CLAIMED_SOURCES,
        lambda: f"claimed m {_claimed_joins()}",
        head=lambda: f"WITH claimed AS ({update} RETURNING {Message._meta.db_table}.*)",
        also=version_columns,
    )


_CLAIMING = _claiming(_CLAIM_UPDATE)
_CLAIMING_UNAWAITED = _claiming(unawaited(_CLAIM_SET, _CLAIM_WHERE))


def _claimed_answer(message_id: int) -> Message:
    """The answer with its conversation, category, owner (the audit event's actor) and
    backend, from SQL built once (the ORM's select_related took longer to build than to
    run; the owner, read when the answer was settled, was a query of its own)."""
    return _answer_of(_CLAIMED.one([message_id]))


def _answer_of(found: tuple) -> Message:
    answer, conversation, category, owner, backend = found
    conversation.category = category
    conversation.owner = owner
    answer.conversation = conversation
    answer.backend = backend if answer.backend_id is not None else None
    return answer
