"""The worker's side of a message: call the backend, stream the answer, finish.

Every way this can end leaves the answer in a state its author sees: done,
failed (with a sentence saying why) or stopped. Nothing stays "answering"
forever: an answer whose worker stopped sending heartbeats is taken over by
another worker, or failed by the sweeper (or by whoever waits on it) when nobody does.
"""

import asyncio
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record, update_and_record
from chat import llm, streams, transient
from chat.models import Conversation, Message, sealing_context
from chat.pseudonyms import Pseudonymiser
from chat.services import PART_SEPARATOR
from chat.stopping import Cancel
from chat.tasks import ANSWER_SOFT_LIMIT_SECONDS
from config.commits import may_skip_wait, unawaited
from config.prepared import hot_cursor
from config.rows import Prebuilt
from governance.models import Backend, Category, User
from governance.policy import eligible_backends
from governance.policy_cache import Version, read_version, version_columns, version_of
from governance.simulation import policy_snapshot

logger = logging.getLogger(__name__)

#: Read timeout of one backend call (the longest silence between two chunks).
BACKEND_TIMEOUT_SECONDS = 120
#: How often a working answer says it is alive (a counter in Redis, with a time to live).
HEARTBEAT_SECONDS = 2
#: A heartbeat lives this long: a worker killed outright is silent within seconds.
ALIVE_TTL_SECONDS = 3 * HEARTBEAT_SECONDS
#: Silent this long after it started: the sweeper queues it again, to be taken over.
RESUME_AFTER_SECONDS = 10
#: ... at most this often per answer.
RESUME_EVERY_SECONDS = 15
#: Silent this long since its last heartbeat (or its claim), and nobody took it over in
#: the meantime: the sweeper fails it.
GIVE_UP_AFTER_SECONDS = 90
#: How many times an answer is started before an interrupted one is failed instead; each
#: ask (the first, each Retry) has as many (see :func:`retried_attempt`).
MAX_ATTEMPTS = 3
#: A follower (:func:`follow`) silent this long looks at the answer's row.
FOLLOW_SILENCE_MS = 5000
#: A saved answer that never reached the queue is handed to it again after this.
REQUEUE_AFTER_SECONDS = 5
#: Queued this long without a worker taking it: give up, visibly.
QUEUE_GIVE_UP_SECONDS = 15 * 60
#: How often the cancel flag is looked at while chunks arrive.
CANCEL_POLL_SECONDS = 0.2
#: The share of a backend's context budget the history may fill; the rest is the answer's.
HISTORY_SHARE = 0.75
#: Characters per token, counted low: code, and most languages but English, take more
#: tokens per character than English prose, and a history cut too late is refused.
CHARS_PER_TOKEN = 3
#: Turns read at once while the history is gathered, newest first.
HISTORY_PAGE = 50
LOST = "The worker answering this stopped before it finished; retry."
NOT_TAKEN = "No worker took this answer in time; retry."
#: Failures whose explanation holds the backend's own words, which may quote what it was
#: sent: in a category that keeps no content, these take their place.
QUOTING_KINDS = {
    "http": "{name} answered with an error (its words are not kept: this category keeps no "
    "content). Retry, or ask an administrator to check the backend.",
    "auth": "{name} refused Steward's key: ask an administrator to check the backend.",
}
#: A vendor's error code as the audit trail keeps it: an identifier, never free text.
VENDOR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
SYSTEM_PROMPT = (
    "Some values in this conversation were replaced by placeholders in square brackets, "
    "such as [EMAIL_1] or [PERSON_2]. Keep every placeholder exactly as written, brackets "
    "included, wherever you refer to the value it stands for."
)


@dataclass
class Progress:
    """How an answer's stream went: the text so far, and how it ended."""

    text: str = ""
    first_token_ms: int | None = None
    cancelled: bool = False
    usage: llm.Usage | None = None
    #: Why the backend ended it (llm.STOPPED, LENGTH or FILTERED).
    finish: str = llm.STOPPED
    started: float = field(default_factory=time.monotonic)
    #: Set when the backend call failed: the sentence shown to the author, and its kind.
    error: str = ""
    error_kind: str = ""
    #: The backend's own failure (its HTTP status, its code), for the API to answer with.
    failure: llm.LLMError | None = None
    #: Another worker took the answer over: this attempt writes nothing.
    superseded: bool = False
    #: Read from the worker that produces and settles it (:func:`follow`): nothing to write.
    followed: bool = False
    #: The stop flag could not be read (Redis gone): logged once, and the answer went on.
    unpolled: bool = False


class _NotHeld(Exception):
    """The question of an answer whose category keeps no content has left Redis."""


class _Superseded(Exception):
    """Another worker took this answer over: this one stops without a word."""


class _TooLong(Exception):
    """The answer ran past ``ANSWER_SOFT_LIMIT_SECONDS``. Checked as chunks arrive (with text
    or without), so it holds in a threads pool, where Celery's time limits do not, and in the
    API's web process; a backend that falls silent instead meets the read timeout."""


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
        _fail(answer, writer, "The backend chosen for this answer was disabled; retry.", "config")
        return
    if not _still_eligible(answer, version):
        _fail(
            answer,
            writer,
            f"The policy changed after this question was sent: {backend.name} may no longer "
            "answer it. Retry to send it under today's policy.",
            "config",
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
        _fail(answer, writer, "Something went wrong while answering; retry.", "internal")
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


def stream_answer(
    answer: Message,
    messages: list[llm.ChatMessage],
    writer,
    *,
    begun: bool = True,
    cancel: Cancel | None = None,
) -> Progress:
    """Call the answer's backend with ``messages``, writing the text to ``writer`` as it comes.

    Touches no database (so the API's web process runs it in a thread of its
    own, and a worker in its task); a thread keeps the heartbeat alive, and the
    cancel flag and the owner (a worker that was only slow stops when it finds
    its answer taken over) are checked as chunks arrive. ``writer`` has
    ``chunk(text)`` and ``end(status)``. The caller stores the outcome with
    :func:`settle`. ``begun``: :func:`streams.begin_answer` announced this attempt (a
    worker's does; the API's claim sets no liveness key). ``cancel``: set, it stops the
    answer as the stop flag does (the API's relay sets it when its client hangs up); the
    heartbeat sets it when it finds the flag, which ends the wait for the backend at once,
    even one that says nothing (:mod:`chat.stopping`).
    """
    progress, cancel = Progress(), cancel or Cancel()
    with _heartbeat(answer.public_id, cancel, begun=begun):
        try:
            adapter = llm.adapter_for(answer.backend)
            _stream(adapter, messages, answer, writer, progress, cancel)
            progress.usage, progress.finish = adapter.usage, adapter.finish
        except Exception as exc:
            _failed(answer, progress, exc)
    return progress


async def astream_answer(
    answer: Message,
    messages: list[llm.ChatMessage],
    writer,
    cancel: Cancel | None = None,
) -> Progress:
    """:func:`stream_answer` on the running event loop, for a backend whose adapter has an
    async client (:func:`llm.can_stream_async`): the API's web process answers without a
    thread per answer. What it asks of Redis (the cancel flag and the owner, a failure's
    mark, the heartbeat's end) goes to a thread: Redis gone must not stall the loop; so does
    the allowlist's check of the backend's host, which may wait for DNS."""
    progress, cancel = Progress(), cancel or Cancel()
    _heartbeats.add(answer.public_id, cancel)
    try:
        try:
            if settings.STEWARD_BACKEND_HOSTS:  # it may look the backend's name up (DNS)
                adapter = await asyncio.to_thread(llm.adapter_for, answer.backend)
            else:
                adapter = llm.adapter_for(answer.backend)
            next_check = progress.started + CANCEL_POLL_SECONDS
            sampling = llm.Sampling.stored(answer.sampling)
            async for text in adapter.astream(
                messages,
                timeout=BACKEND_TIMEOUT_SECONDS,
                cancel=cancel,
                sampling=sampling,
                every_chunk=True,
            ):
                now = time.monotonic()
                if now >= next_check:
                    next_check = now + CANCEL_POLL_SECONDS
                    await asyncio.to_thread(_check, answer, progress, cancel)
                _add(progress, text, writer, now)
            if not progress.cancelled and time.monotonic() >= next_check:
                await asyncio.to_thread(_check, answer, progress, cancel)
            progress.cancelled = progress.cancelled or cancel.is_set()
            progress.usage, progress.finish = adapter.usage, adapter.finish
        except Exception as exc:
            await asyncio.to_thread(_failed, answer, progress, exc)
    finally:
        if _heartbeats.discard(answer.public_id):
            await asyncio.to_thread(_stop_beat, answer.public_id)
    return progress


def _failed(answer: Message, progress: Progress, exc: Exception) -> None:
    """Note in ``progress`` how the backend call failed (``exc``), in words for the author."""
    if isinstance(exc, _Superseded):
        progress.superseded = True
    elif isinstance(exc, llm.LLMError):
        if exc.kind in ("connection", "timeout") and not progress.text:
            streams.mark_unreachable(answer.backend.public_id)
        progress.error, progress.error_kind, progress.failure = str(exc), exc.kind, exc
    elif isinstance(exc, (_TooLong, SoftTimeLimitExceeded)):
        progress.error = "The answer took too long and was stopped."
        progress.error_kind = "timeout"
    else:
        logger.error("answer %s failed unexpectedly", answer.public_id, exc_info=exc)
        progress.error = "Something went wrong while answering; retry."
        progress.error_kind = "internal"


def follow(
    answer: Message, writer, *, limit_seconds: float = ANSWER_SOFT_LIMIT_SECONDS
) -> Progress:
    """Relay an answer that a worker produces (and settles): read its stream into ``writer``.

    For a caller that streams answers itself (the API) but was given one that
    only a worker may produce (the built-in model). The returned progress is
    marked superseded, so the caller's :func:`settle` writes nothing; its text,
    usage and error are the worker's.
    """
    progress = Progress(superseded=True, followed=True)
    key, last = streams.stream_key(answer.public_id), "0"
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        read = streams.client().xread({key: last}, block=FOLLOW_SILENCE_MS, count=200)
        # Ended without an end entry: its stream dropped by a delete, purge or erasure, or
        # failed here (its worker lost, and the sweeper may have gone with it).
        if not read and not still_on_its_way(answer.pk):
            _as_settled(answer, progress)
            return progress
        for _, entries in read or []:
            for entry_id, fields in entries:
                last = entry_id
                kind = fields.get(b"t")
                if kind == b"start":
                    progress.text = ""  # a worker took the answer over from the start
                elif kind == b"chunk":
                    text = fields[b"text"].decode()
                    if progress.first_token_ms is None:
                        progress.first_token_ms = int((time.monotonic() - progress.started) * 1000)
                    progress.text += text
                    writer.chunk(text)
                elif kind == b"end":
                    _as_settled(answer, progress)
                    return progress
    progress.error, progress.error_kind = "The answer took too long and was stopped.", "timeout"
    streams.request_cancel(answer.public_id)
    return progress


def still_on_its_way(message_id: int) -> bool:
    """Whether the answer is still on its way, as one waiting on its stream sees it after a
    silence (the page's stream, the API following a worker's answer).

    One the sweeper would fail, it fails here, the same way (:func:`_give_up`): silent past
    ``GIVE_UP_AFTER_SECONDS`` with no heartbeat, or queued past ``QUEUE_GIVE_UP_SECONDS``.
    The sweeper runs on a worker, and that may be the worker that is down; a waiting page
    would otherwise show its answer on its way for as long as it stays down. One whose
    author asked to stop it, and whose worker shows no heartbeat, is stored as stopped (the
    stop was pressed while the heartbeat of a worker just lost still lived).
    """
    answer = Message.objects.filter(pk=message_id).in_flight().first()
    if answer is None:
        return False
    now = timezone.now()
    if answer.status == Message.Status.QUEUED and _forgotten(answer, now):
        return not _give_up(answer, NOT_TAKEN, "queue")
    if answer.status != Message.Status.STREAMING:
        return True  # waiting for its worker
    if _silent_for(answer, None, now) < ALIVE_TTL_SECONDS:
        return True  # claimed a moment ago
    alive, seen, stop_asked = streams.liveness(answer.public_id)
    silent = 0 if alive else _silent_for(answer, seen, now)
    if stop_asked and silent > ALIVE_TTL_SECONDS:  # pressed as (or after) its worker was lost
        return not _store_stopped(answer)
    if silent > GIVE_UP_AFTER_SECONDS:
        return not _give_up(answer, LOST, "lost")
    return True


def _as_settled(answer: Message, progress: Progress) -> None:
    settled = (
        Message.objects.filter(pk=answer.pk)
        .values(
            "status", "error_sealed", "error_kind", "input_tokens", "output_tokens", "finish_reason"
        )
        .first()
    )
    if settled is None:  # deleted meanwhile, with its conversation
        progress.cancelled = True
        return
    progress.usage = llm.Usage(settled["input_tokens"], settled["output_tokens"])
    progress.finish = settled["finish_reason"] or llm.STOPPED
    progress.cancelled = settled["status"] == Message.Status.CANCELLED
    if settled["status"] == Message.Status.FAILED:
        answer.error_sealed = settled["error_sealed"]
        progress.error, progress.error_kind = answer.error, settled["error_kind"] or "internal"


def settle(answer: Message, writer, progress: Progress) -> None:
    """Store how the answer ended (done, stopped or failed) with its audit event, end the stream."""
    if progress.superseded:
        if not progress.followed:  # a follower never held the answer: no news to log
            logger.info("answer %s: attempt %s superseded", answer.public_id, answer.attempt)
        return
    if "[" in progress.text:  # before the stream ends: the author's next message comes after
        try:
            _keep_invented_placeholders(answer, progress.text)
        except Exception as exc:  # the answer is stored all the same
            logger.warning(
                "answer %s: made-up placeholders not kept (%s)",
                answer.public_id,
                type(exc).__name__,
            )
    if progress.error_kind:
        _fail(
            answer,
            writer,
            progress.error,
            progress.error_kind,
            partial=progress.text,
            failure=progress.failure,
        )
    else:
        _finish(answer, writer, progress)


def _keep_invented_placeholders(answer: Message, text: str) -> None:
    """Keep the placeholders the model made up in ``text`` as the conversation's literals
    (:meth:`chat.pseudonyms.Pseudonymiser.keep_invented`), under the conversation's lock,
    as a message's new placeholders are; the mapping is read once, and written only when
    the answer made one up. A category that keeps no text keeps no answer to misread."""
    conversation = answer.conversation
    if not transient.keeps_content(conversation):
        return
    if not Pseudonymiser(conversation.pseudonyms()).keep_invented(text):
        return
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        if locked is None:  # deleted meanwhile
            return
        pseudonymiser = Pseudonymiser(locked.pseudonyms())
        if pseudonymiser.keep_invented(text):
            locked.set_pseudonyms(pseudonymiser.mapping)
            locked.save(update_fields=["pseudonyms_sealed"])


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
    it says which worker owns the answer (:func:`_settle`), and a worker still holding an
    earlier one must never own it again."""
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


def _still_beating(answer: Message) -> bool:
    """Whether another worker is at this answer: its heartbeat goes on (watched for two
    beats), or, with none yet, it was claimed too lately to have given its first (watched
    until a heartbeat's lifetime after the claim: two copies of a lost answer's task, the
    broker's and the sweeper's, reach the same worker, and the second found the first's
    take-over not yet beating, took the answer over again, and the third failed it)."""
    seen = streams.beats(answer.public_id)
    if seen is not None:
        watch = 2 * HEARTBEAT_SECONDS + 1
    else:  # within a heartbeat's lifetime, whatever another worker's clock stamped
        watch = min(
            ALIVE_TTL_SECONDS, ALIVE_TTL_SECONDS - _silent_for(answer, None, timezone.now())
        )
    deadline = time.monotonic() + watch
    while time.monotonic() < deadline:
        time.sleep(HEARTBEAT_SECONDS / 4)
        now = streams.beats(answer.public_id)
        if now != seen:
            return now is not None
    return False


@contextmanager
def _heartbeat(public_id, cancel: threading.Event, *, begun: bool):
    """Keep the answer's liveness key fresh while the backend thinks (chunks or not), set
    ``cancel`` when a beat finds its author asked to stop, and drop the key at the end, if
    it was set: by :func:`streams.begin_answer` (``begun``), or by a beat (an answer of a
    few ms, as most API answers are, gets none)."""
    _heartbeats.add(public_id, cancel)
    try:
        yield
    finally:
        if _heartbeats.discard(public_id) or begun:
            _stop_beat(public_id)


def _stop_beat(public_id) -> None:
    """End the answer's heartbeat; with Redis gone, its key expires by itself (an answer
    that streamed whole is not failed for it)."""
    try:
        streams.stop_beat(public_id)
    except redis.RedisError as exc:
        logger.warning("answer %s: its heartbeat not ended (%s)", public_id, type(exc).__name__)


class _Heartbeats:
    """One thread per process beats for every answer the process is streaming, in one
    Redis round trip every ``HEARTBEAT_SECONDS`` (a web process streams many answers
    at once; a thread started and joined for each cost more than its answer's beats).
    The same round trip reads the answers' stop flags: a stop pressed while the backend
    is silent (a reasoning model thinking, a built-in answer waiting for the model) sets
    the answer's cancel event, which the adapter looks at, rather than waiting for the
    next chunk to be looked at.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[object, threading.Event] = {}  # public id: the answer's cancel
        self._beaten: set = set()  # the live answers given a beat
        self._running = False

    def add(self, public_id, cancel: threading.Event) -> None:
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="heartbeats", daemon=True).start()
            self._live[public_id] = cancel

    def discard(self, public_id) -> bool:
        """Beat the answer no more; whether it had been given a beat."""
        with self._lock:
            self._live.pop(public_id, None)
            if public_id in self._beaten:
                self._beaten.discard(public_id)
                return True
            return False

    def _run(self) -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            self.beat_once()

    def beat_once(self) -> None:
        with self._lock:
            live = dict(self._live)
            self._beaten.update(live)
        if not live:
            return
        try:
            stopped = streams.beat(*live, ttl_seconds=ALIVE_TTL_SECONDS)
        except Exception:  # Redis gone: the streams fail too, and say so
            logger.warning("heartbeats of %d answers not recorded", len(live))
            return
        for public_id in stopped:
            live[public_id].set()


_heartbeats = _Heartbeats()
os.register_at_fork(after_in_child=_heartbeats.__init__)  # a forked worker starts afresh


def _stream(adapter, messages, answer: Message, writer, progress: Progress, cancel):
    next_check = progress.started + CANCEL_POLL_SECONDS
    sampling = llm.Sampling.stored(answer.sampling)
    for text in adapter.stream(
        messages,
        timeout=BACKEND_TIMEOUT_SECONDS,
        cancel=cancel,
        sampling=sampling,
        on_wait=getattr(writer, "wait", None),  # a worker's stream tells the page
        # A reasoning model may think in chunks without text for as long as it likes:
        # each is a look at the clock and the owner all the same.
        every_chunk=True,
    ):
        now = time.monotonic()
        if now >= next_check:
            next_check = now + CANCEL_POLL_SECONDS
            _check(answer, progress, cancel)
        _add(progress, text, writer, now)
    # A stop is seen at most CANCEL_POLL_SECONDS late: an answer that ended before its
    # next look was due (most API answers) settles as it ended, without another round trip
    # to Redis. A take-over meanwhile needs no look: the settle's own condition (this
    # attempt still owns the answer) keeps a superseded attempt from writing.
    if not progress.cancelled and time.monotonic() >= next_check:
        _check(answer, progress, cancel)
    progress.cancelled = progress.cancelled or cancel.is_set()  # a beat found the stop


def _add(progress: Progress, text: str, writer, now: float) -> None:
    """A chunk's text, added to the answer and written; the first text's time (``now``) is
    the answer's first token. A chunk without text adds and writes nothing."""
    if not text:
        return
    if progress.first_token_ms is None:
        progress.first_token_ms = round((now - progress.started) * 1000)
    progress.text += text
    writer.chunk(text)


def _check(answer: Message, progress: Progress, cancel: threading.Event) -> None:
    if time.monotonic() - progress.started > ANSWER_SOFT_LIMIT_SECONDS:
        cancel.set()
        raise _TooLong
    try:
        cancelled, owner = streams.poll(answer.public_id)
    except redis.RedisError as exc:
        # Redis gone: a stop cannot be read, so the answer goes on, as through a missed beat;
        # a take-over cannot be read either, but the settle writes only if it owns the answer.
        if not progress.unpolled:
            progress.unpolled = True
            logger.warning(
                "answer %s: its stop flag could not be read (%s); it goes on",
                answer.public_id,
                type(exc).__name__,
            )
        return
    if owner is not None and owner != answer.attempt:
        cancel.set()
        raise _Superseded
    if cancelled:
        progress.cancelled = True
        cancel.set()


def history_budget(backend) -> int:
    """How many characters of history go with a call to ``backend``: a share of its
    context budget (its own, or its kind's usual), the oldest turns left out first."""
    return int(backend.context_budget * HISTORY_SHARE) * CHARS_PER_TOKEN


def _history(answer: Message) -> list[llm.ChatMessage]:
    """The turns before this answer as the backend saw them, newest first within the budget.

    In a category that keeps no content there is no stored history: only the
    question, held in Redis for its answer (:mod:`chat.transient`).
    """
    if not transient.keeps_content(answer.conversation):
        held = transient.load(answer.conversation, answer.public_id)
        if held is None:
            raise _NotHeld
        asked = [llm.ChatMessage(role=role, content=text) for role, text in held["parts"]]
        return [llm.ChatMessage(role="system", content=SYSTEM_PROMPT), *asked]
    kept: list[llm.ChatMessage] = []
    budget = history_budget(answer.backend) - len(SYSTEM_PROMPT)
    for role, text, parts in _newest_first(answer):
        if not text.strip():
            continue  # an answer that came back empty
        if kept and len(text) > budget:
            break
        budget -= len(text)
        kept.extend(reversed(_as_sent(role, text, parts)))
    kept.reverse()
    # Every kind gets the turns Anthropic and Bedrock insist on (their adapters see to it
    # for any request): an OpenAI-compatible server's chat template may insist too.
    return [llm.ChatMessage(role="system", content=SYSTEM_PROMPT), *llm.alternating_turns(kept)]


def _as_sent(role: str, text: str, parts: list) -> list[llm.ChatMessage]:
    """A stored turn as the backend was given it: a request's turns with their roles
    (``parts``: [role, length] of each in ``text``, a blank line between), while they add up
    (an erasure may have redacted the text since); else one turn."""
    joined = sum(length for _, length in parts) + len(PART_SEPARATOR) * (len(parts) - 1)
    if not parts or joined != len(text):
        return [llm.ChatMessage(role=role, content=text)]
    turns, start = [], 0
    for part_role, length in parts:
        turns.append(llm.ChatMessage(role=part_role, content=text[start : start + length]))
        start += length + len(PART_SEPARATOR)
    return turns


# Of each turn, what opens its text and the text itself, sealed: a question's as it was
# sent (placeholders and all), if anything was replaced in it; else its content.
# (Whole rows, five JSON fields decoded and two sealed texts each, cost more than
# opening the texts.)
_HAS_SENT_TEXT = f"m.role = '{Message.Role.USER.value}' AND length(m.sent_sealed) > 0"
_HISTORY_SQL = (
    f"SELECT m.public_id, m.role, {_HAS_SENT_TEXT}, "
    f"CASE WHEN {_HAS_SENT_TEXT} THEN m.sent_sealed ELSE m.content_sealed END, m.parts "
    f"FROM {Message._meta.db_table} m "
    "WHERE m.conversation_id = %s AND m.created_at <= %s AND m.id <> %s "
    "AND ((m.role = %s AND m.status = %s) OR (m.role = %s AND m.status = %s)) "
    "AND length(m.content_sealed) > 0 "  # not the turns of a category that kept no content
    "ORDER BY m.created_at DESC, m.id DESC LIMIT %s OFFSET %s"
)


def _newest_first(answer: Message) -> Iterator[tuple[str, str, list]]:
    """(role, text as the backend was given it, its parts) of the turns sent and answered before
    ``answer``, newest first, a page at a time: most conversations fit in the first, one
    query whose SQL is built once (the ORM took longer to build it than to run it; a
    server-side cursor, ``iterator()``, cost three round trips and, outside a
    transaction, PostgreSQL keeping the whole result until it was closed)."""
    key = answer.conversation.key  # one data key, opened once
    to_uuid = Message._meta.get_field("public_id").to_python
    to_parts = Message._meta.get_field("parts").from_db_value
    before = connection.ops.adapt_datetimefield_value(answer.created_at)
    offset = 0
    while True:
        with hot_cursor() as cursor:
            cursor.execute(
                _HISTORY_SQL,
                [
                    answer.conversation_id,
                    before,
                    answer.pk,
                    Message.Role.USER,
                    Message.Status.SENT,
                    Message.Role.ASSISTANT,
                    Message.Status.DONE,
                    HISTORY_PAGE,
                    offset,
                ],
            )
            page = cursor.fetchall()
        for public_id, role, sent, sealed, parts in page:
            part = "sent" if sent else "content"
            text = key.open_text(bytes(sealed), sealing_context(to_uuid(public_id), part))
            yield role, text, to_parts(parts, None, connection) or []
        if len(page) < HISTORY_PAGE:
            return
        offset += HISTORY_PAGE


def _finish(answer: Message, writer, progress: Progress) -> None:
    status = Message.Status.CANCELLED if progress.cancelled else Message.Status.DONE
    _set_text(answer, progress.text)
    answer.first_token_ms = progress.first_token_ms
    if progress.usage is not None:
        answer.input_tokens = progress.usage.input_tokens
        answer.output_tokens = progress.usage.output_tokens
    answer.finish_reason = "" if progress.cancelled else progress.finish
    _settle(
        answer,
        writer,
        status,
        lambda: _record_response(answer, progress.started, cancelled=progress.cancelled),
        first_token_ms=answer.first_token_ms,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        finish_reason=answer.finish_reason,
    )


def _fail(
    answer: Message,
    writer,
    error: str,
    kind: str,
    *,
    partial: str = "",
    stage: str = "backend",
    failure: llm.LLMError | None = None,
) -> None:
    _set_text(answer, partial)
    answer.error = error
    if kind in QUOTING_KINDS and not transient.keeps_content(answer.conversation):
        answer.error = QUOTING_KINDS[kind].format(name=answer.backend_name or "The backend")
    _settle(
        answer,
        writer,
        Message.Status.FAILED,
        lambda: _record_failure(answer, kind, stage=stage, failure=failure),
        error_sealed=answer.error_sealed,
        error_kind=kind[:20],
    )


def _set_text(answer: Message, text: str) -> None:
    """The answer's text, sealed; in a category that keeps no content, only its size."""
    if transient.keeps_content(answer.conversation):
        answer.content = text
    else:
        answer.chars = len(text)


def _settle(answer: Message, writer, status: str, audit, **fields) -> None:
    """Store the outcome (the answer's text and ``fields``) and its audit event, then end
    the stream; only if this attempt still owns the answer. If it does not, and no other
    attempt took it over, the answer was deleted, or stopped by an erasure, meanwhile: its
    stream goes (what it holds is what was deleted or erased)."""
    values = {
        "status": status,
        "content_sealed": answer.content_sealed,
        "chars": answer.chars,
        "finished_at": timezone.now(),
        **fields,
    }
    params = [
        Message._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in values.items()
    ]
    updated = update_and_record(
        _settle_sql(tuple(values)),
        [*params, answer.pk, Message.Status.STREAMING.value, answer.attempt],
        audit,
    )
    if updated:
        writer.end(status)
    elif not Message.objects.filter(pk=answer.pk, attempt__gt=answer.attempt).exists():
        streams.client().delete(streams.stream_key(answer.public_id))


@functools.cache
def _settle_sql(names: tuple[str, ...]) -> str:
    """The update that settles an answer, for each set of fields a settlement writes (a
    finished answer's, a failed one's)."""
    columns = ", ".join(
        f"{connection.ops.quote_name(Message._meta.get_field(name).column)} = %s" for name in names
    )
    owned = "id = %s AND status = %s AND attempt = %s"
    return f"UPDATE {Message._meta.db_table} SET {columns} WHERE {owned}"


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


def _silent_for(answer: Message, seen: float | None, now) -> float:
    """Seconds since a STREAMING answer's worker last said it was alive: its last heartbeat
    (``seen``, a Unix time) or its claim, whichever came later."""
    claimed = answer.started_at.timestamp() if answer.started_at else 0
    return now.timestamp() - max(claimed, seen or 0)


def _forgotten(answer: Message, now) -> bool:
    """Whether a QUEUED answer has waited for a worker past ``QUEUE_GIVE_UP_SECONDS``."""
    waited_since = answer.enqueued_at
    return waited_since is not None and (now - waited_since).total_seconds() > QUEUE_GIVE_UP_SECONDS


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
    or settled, is left to whoever holds it now), with its audit event. Whether it did."""
    answer.error = error
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=answer.pk, status=answer.status, attempt=answer.attempt
        ).update(
            status=Message.Status.FAILED,
            error_sealed=answer.error_sealed,
            error_kind=kind,
            finished_at=timezone.now(),
        )
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
    fields = {"status": Message.Status.CANCELLED, "finished_at": timezone.now()}
    came = _streamed_so_far(answer) if answer.status == Message.Status.STREAMING else ""
    if came:  # else nothing to write: an answer on its way has no text stored yet
        _set_text(answer, came)
        fields.update(content_sealed=answer.content_sealed, chars=answer.chars)
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


def _streamed_so_far(answer: Message) -> str:
    try:
        return streams.text_of(answer.public_id)
    except redis.RedisError:  # what came is lost with Redis; the stop is kept all the same
        return ""


def _end_stream(answer: Message, status: str) -> None:
    try:
        streams.AnswerWriter(answer.public_id).end(status)
    except Exception:  # the page also learns it from the database
        logger.warning("could not end the stream of %s", answer.public_id)


def _record_response(answer: Message, started: float, *, cancelled: bool) -> None:
    _record(
        answer,
        AuditEvent.Action.CHAT_RESPONSE,
        AuditEvent.Outcome.SUCCESS,
        hosting_class=answer.backend.hosting_class if answer.backend else "",
        chars=answer.chars,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        first_token_ms=answer.first_token_ms,
        duration_ms=round((time.monotonic() - started) * 1000),
        cancelled=cancelled,
        finish=answer.finish_reason,
    )


def _record_failure(
    answer: Message, kind: str, *, stage: str, failure: llm.LLMError | None = None
) -> None:
    """``failure``: the backend's own refusal, whose HTTP status and vendor code (when it is
    an identifier: a backend may put any text there) the event keeps, for counting
    refusals by cause."""
    vendor = {}
    if failure is not None and failure.status:
        vendor["status"] = failure.status
    if failure is not None and VENDOR_CODE.fullmatch(str(failure.code or "")):
        vendor["code"] = failure.code
    _record(
        answer,
        AuditEvent.Action.CHAT_FAILURE,
        AuditEvent.Outcome.FAILURE,
        stage=stage,
        kind=kind,
        **vendor,
    )


def _record(answer: Message, action: str, outcome: str, **details) -> None:
    """An answer's audit event: sizes, timings and kinds, never its text."""
    conversation = answer.conversation
    record(
        action=action,
        actor=conversation.owner,
        target=conversation,
        outcome=outcome,
        category=conversation.category.name,
        backend=answer.backend_name,
        details={
            "category_number": answer.category_number,
            **details,
            "message": str(answer.public_id),
        },
    )
