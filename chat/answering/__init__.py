"""The worker's side of a message: call the backend, stream the answer, finish.

Every way this can end leaves the answer in a state its author sees: done,
failed (with a sentence saying why) or stopped. Nothing stays "answering"
forever: an answer whose worker stopped sending heartbeats is taken over by
another worker, or failed by the sweeper (or by whoever waits on it) when nobody does.

:func:`generate_answer` goes through the parts: the claim (:mod:`.claiming`), the
history the backend is sent (:mod:`.history`), the stream from the backend
(:mod:`.production`, kept alive by :mod:`.liveness`), and the outcome stored
(:mod:`.settling`). The API's web process streams and settles its own answers with the
same parts, or follows a worker's (:mod:`.following`). An answer nobody is at any more is
handed on, failed or stopped by :mod:`.unattended`.
"""

import logging

from django.utils import timezone

from chat import streams
from chat.answering.claiming import (
    MAX_ATTEMPTS,
    _claim,
    _claimed_answer,
    _taken_over,
    retried_attempt,
)
from chat.answering.following import follow
from chat.answering.history import (
    CHARS_PER_TOKEN,
    SYSTEM_PROMPT,
    _history,
    _NotHeld,
    history_budget,
)
from chat.answering.liveness import ALIVE_TTL_SECONDS
from chat.answering.production import Progress, astream_answer, stream_answer
from chat.answering.settling import _fail, _finish, settle
from chat.answering.unattended import (
    GIVE_UP_AFTER_SECONDS,
    LOST,
    NOT_STARTED,
    NOT_STARTED_AFTER_SECONDS,
    ON_ITS_WAY,
    QUEUE_GIVE_UP_SECONDS,
    REQUEUE_AFTER_SECONDS,
    RESUME_AFTER_SECONDS,
    SETTLED,
    still_on_its_way,
    stop_unattended,
    sweep,
    whereabouts,
)
from chat.models import Message
from governance.policy import eligible_backends
from governance.policy_cache import Version, read_version
from governance.simulation import policy_snapshot

__all__ = [
    "ALIVE_TTL_SECONDS",
    "CHARS_PER_TOKEN",
    "GIVE_UP_AFTER_SECONDS",
    "LOST",
    "MAX_ATTEMPTS",
    "NOT_STARTED",
    "NOT_STARTED_AFTER_SECONDS",
    "ON_ITS_WAY",
    "QUEUE_GIVE_UP_SECONDS",
    "REQUEUE_AFTER_SECONDS",
    "RESUME_AFTER_SECONDS",
    "SETTLED",
    "SYSTEM_PROMPT",
    "Progress",
    "astream_answer",
    "follow",
    "generate_answer",
    "history_budget",
    "retried_attempt",
    "settle",
    "still_on_its_way",
    "stop_unattended",
    "stream_answer",
    "sweep",
    "whereabouts",
]

logger = logging.getLogger(__name__)


def generate_answer(message_id: int) -> None:
    """Produce one answer, once, however often the task is delivered.

    1. Claim the answer (PENDING or QUEUED → STREAMING) with a conditional
       update; a duplicate delivery finds nothing to claim and stops. A
       redelivery (a worker died; the broker's visibility timeout passed on a
       long answer; the sweeper found it silent) finds it STREAMING: if its
       heartbeat goes on, someone is still at it and this copy stops; if it is
       silent, this copy takes the answer over from the start (a new attempt),
       up to ``MAX_ATTEMPTS`` times. A stop its author pressed meanwhile (while
       its last worker was silent) stops it here, before the backend is called.
    2. Build the messages: the system note about placeholders, then the
       conversation's turns as they were sent, newest kept within the budget.
    3. Stream from the backend into the answer's Redis stream
       (:func:`stream_answer`).
    4. Save the outcome and its audit event (only if this attempt still owns
       the answer), then end the stream (:func:`settle`).
    """
    claimed = _claim(message_id)
    if claimed is None:
        if not _taken_over(message_id):
            return
        claimed = _claimed_answer(message_id), read_version()
    answer, version = claimed
    with streams.held_writer(answer.public_id) as writer:
        stopped = streams.begin_answer(
            answer.public_id,
            answer.attempt,
            alive_ttl_seconds=ALIVE_TTL_SECONDS,
            redis_client=writer.redis,
        )
        if stopped:
            _finish(answer, writer, Progress(cancelled=True))
        else:
            _produce(answer, version, writer)


def _produce(answer: Message, version: Version, writer: streams.AnswerWriter) -> None:
    backend = answer.backend
    if backend is None or not backend.enabled:
        switched_off = "The model chosen for this answer was switched off."
        _fail(answer, writer, switched_off, Message.CHANGED, stage="policy")
        return
    if not _still_eligible(answer, version):
        _fail(
            answer,
            writer,
            f"The policy changed after this question was sent: {backend.name} may no longer "
            "answer it.",
            Message.CHANGED,
            stage="policy",
        )
        return
    try:
        messages = _history(answer)
    except _NotHeld:
        _fail(
            answer,
            writer,
            f"{answer.conversation.category.name} keeps no content, and this question waited "
            "too long to be held any more: send it again.",
            "expired",
        )
        return
    except Exception:
        logger.exception("answer %s: its history could not be read", answer.public_id)
        _fail(answer, writer, "Something went wrong while answering.", "internal")
        return
    settle(answer, writer, stream_answer(answer, messages, writer))


def _still_eligible(answer: Message, version: Version) -> bool:
    """Whether today's policy still lets the answer's backend serve its category.

    The backend was chosen when the question was sent; a queued, re-queued or taken-over
    answer may reach a worker minutes later, after an admin reclassified the backend,
    withdrew its approval or blocked the category. ``version`` was read with the claim:
    the snapshot is this process's cached copy.
    """
    policy = policy_snapshot(version)
    category = policy.categories.get(answer.category_number)
    if category is None:  # deactivated meanwhile
        return False
    key = str(answer.backend.public_id)
    eligible = eligible_backends(category, policy.backends, today=timezone.localdate())
    return any(spec.key == key for spec in eligible)
