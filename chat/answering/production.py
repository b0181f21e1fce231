"""An answer's text from its backend, written as it comes, and how the stream went
(:class:`Progress`): on a worker's thread (:func:`stream_answer`) or on the API's event
loop (:func:`astream_answer`)."""

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from chat import llm, streams
from chat.answering import liveness
from chat.models import Message
from chat.stopping import Cancel
from chat.tasks import ANSWER_SOFT_LIMIT_SECONDS

logger = logging.getLogger(__name__)

#: Read timeout of one backend call (the longest silence between two chunks).
BACKEND_TIMEOUT_SECONDS = 120
#: How often the cancel flag is looked at while chunks arrive.
CANCEL_POLL_SECONDS = 0.2


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


class _Superseded(Exception):
    """Another worker took this answer over: this one stops without a word."""


class _TooLong(Exception):
    """The answer ran past ``ANSWER_SOFT_LIMIT_SECONDS``. Checked as chunks arrive (with text
    or without), so it holds in a threads pool, where Celery's time limits do not, and in the
    API's web process; a backend that falls silent instead meets the read timeout."""


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
    :func:`chat.answering.settle`. ``begun``: :func:`streams.begin_answer` announced this attempt (a
    worker's does; the API's claim sets no liveness key). ``cancel``: set, it stops the
    answer as the stop flag does (the API's relay sets it when its client hangs up); the
    heartbeat sets it when it finds the flag, which ends the wait for the backend at once,
    even one that says nothing (:mod:`chat.stopping`).
    """
    progress, cancel = Progress(), cancel or Cancel()
    with liveness._heartbeat(answer.public_id, cancel, begun=begun):
        try:
            adapter = llm.adapter_for(answer.backend)
            _stream(adapter, messages, answer, writer, progress, cancel)
            progress.usage, progress.finish = adapter.usage, adapter.finish
        except Exception as exc:
            _failed(answer, messages, progress, exc)
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
    liveness._heartbeats.add(answer.public_id, cancel)
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
            await asyncio.to_thread(_failed, answer, messages, progress, exc)
    finally:
        if liveness._heartbeats.discard(answer.public_id):
            await asyncio.to_thread(liveness._stop_beat, answer.public_id)
    return progress


def _failed(
    answer: Message, messages: list[llm.ChatMessage], progress: Progress, exc: Exception
) -> None:
    """Note in ``progress`` how the backend call failed (``exc``), in words for the author."""
    if isinstance(exc, _Superseded):
        progress.superseded = True
    elif isinstance(exc, llm.LLMError) and exc.code == llm.TOO_LONG:
        progress.error = too_long(answer.backend_name, messages)
        progress.error_kind, progress.failure = Message.TOO_LONG, exc
    elif isinstance(exc, llm.LLMError):
        if exc.kind in ("connection", "timeout") and not progress.text:
            streams.mark_unreachable(answer.backend.public_id)
        progress.error, progress.error_kind, progress.failure = str(exc), exc.kind, exc
    elif isinstance(exc, (_TooLong, SoftTimeLimitExceeded)):
        progress.error = "The answer took too long and was stopped."
        progress.error_kind = "timeout"
    else:
        logger.error("answer %s failed unexpectedly", answer.public_id, exc_info=exc)
        progress.error = "Something went wrong while answering."
        progress.error_kind = "internal"


def too_long(backend_name: str, messages: list[llm.ChatMessage]) -> str:
    """Why the backend refused a request longer than its context, and what helps: the new
    message is most of what was sent (the history is cut to leave it room, so then there
    is little or none), or the conversation before it is."""
    name = backend_name or "The model"
    sent = [m.content for m in messages if m.role != "system"]
    if not sent or len(sent[-1]) * 2 >= sum(map(len, sent)):
        return (
            f"Your message is too long for {name} to read: shorten it, or split it and send "
            "the parts one at a time."
        )
    return (
        f"Your message and the conversation before it are too long together for {name} to "
        "read: start a new conversation for it, or shorten it."
    )


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
