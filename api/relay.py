"""An answer streamed by the web process itself, for the API.

The governed steps (scan, decide, record, pseudonymise) are the chat's own
(:func:`chat.services.send_request`); what differs is who calls the backend.
The chat page queues a Celery task that writes to a Redis stream; an API
client waits on its HTTP request, so the web process calls the backend
itself, and the request's coroutine reads the chunks as they come. Under
ASGI, a backend whose vendor has an async client is called on the server's
event loop (:func:`chat.answering.astream_answer`, in a task of its own);
any other, and any under WSGI (whose loop ends with the view), with the same
:func:`chat.answering.stream_answer` a worker uses, in a thread of its own.
The heartbeat goes on as for a worker: if this process dies mid-answer, the
sweeper hands the answer to a worker, and it lands in the author's history.
"""

import asyncio
import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from django.db import connections

from chat import answering, llm, streams
from chat.markdown import OutsideLinksRestorer
from chat.models import Message
from chat.pseudonyms import Pseudonymiser
from chat.stopping import Cancel
from config.connections import in_database_thread

logger = logging.getLogger(__name__)

#: Answers streamed at once from threads by one web process (the kinds without an async
#: client, and every answer under WSGI); more wait for a free thread.
MAX_STREAMS = 128
_pool = ThreadPoolExecutor(max_workers=MAX_STREAMS, thread_name_prefix="api-answer")
#: The answers streaming on an event loop (a task nothing refers to may be collected).
_on_loop: set[asyncio.Task] = set()


async def finish_answers(grace_seconds: float) -> None:
    """Let the answers streaming on the running loop end (the server is stopping), for at
    most ``grace_seconds``: one still going after that stops with the loop, and the sweeper
    hands it to a worker, as it does when a process dies."""
    loop = asyncio.get_running_loop()
    running = [task for task in _on_loop if task.get_loop() is loop]
    if running:
        await asyncio.wait(running, timeout=grace_seconds)


class _Ignore:
    """A writer that keeps nothing (the answer's text is in its Progress at the end)."""

    def start(self) -> None:
        pass

    def chunk(self, text: str) -> None:
        pass

    def end(self, status: str) -> None:
        pass


class Relay:
    """One answer: streamed by a pool thread, read by the request's coroutine.

    Whoever ends up holding the finished stream settles it (stores the answer
    and its audit event), exactly once: the coroutine normally; the thread
    when the client went away first.
    """

    def __init__(self, answer: Message, messages, *, chunks_wanted: bool, loop_lives: bool = False):
        """``loop_lives``: the running event loop outlives the request (ASGI's does)."""
        self.answer = answer
        self.messages = messages
        self.chunks_wanted = chunks_wanted
        self.loop_lives = loop_lives
        self._lock = threading.Lock()
        # Handed over from the thread; the reader's loop is known only once it reads
        # (under WSGI, Django iterates a streaming response in another loop than the view's).
        self._items: deque = deque()
        self._reader: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._abandoned = False
        self._settling = False
        #: Set when the client hangs up: the answer streamed here stops at once.
        self._cancel = Cancel()
        self._progress: answering.Progress | None = None

    def start(self) -> None:
        claimed = self.answer.status == Message.Status.STREAMING  # not a worker's to answer
        if self.loop_lives and claimed and llm.can_stream_async(self.answer.backend):
            task = asyncio.get_running_loop().create_task(self._run_on_loop())
            _on_loop.add(task)
            task.add_done_callback(_on_loop.discard)
        else:
            _pool.submit(self._run)

    # --- the producer: a task on the loop, or a pool thread ------------------------------

    def chunk(self, text: str) -> None:
        """The writer's side of :func:`answering.stream_answer`: text for the coroutine."""
        if self.chunks_wanted:
            self._hand_over(text)

    def _run(self) -> None:
        try:
            if self.answer.status == Message.Status.STREAMING:  # claimed for this process
                progress = answering.stream_answer(
                    self.answer, self.messages, self, begun=False, cancel=self._cancel
                )
            else:  # a worker answers (the built-in model): follow its stream
                try:
                    progress = answering.follow(self.answer, self)
                finally:
                    connections.close_all()  # a pool thread keeps no database connection
        except Exception:  # e.g. Redis gone as the heartbeat stops: the request must not hang
            progress = self._stopped_unexpectedly()
        if self._ended(progress):
            self._settle_here(progress)

    async def _run_on_loop(self) -> None:
        try:
            progress = await answering.astream_answer(
                self.answer, self.messages, self, self._cancel
            )
        except Exception:
            progress = self._stopped_unexpectedly()
        if self._ended(progress):
            await in_database_thread(answering.settle)(self.answer, _Ignore(), progress)

    def _stopped_unexpectedly(self) -> answering.Progress:
        logger.exception("answer %s: streaming stopped unexpectedly", self.answer.public_id)
        return answering.Progress(
            error="Something went wrong while answering.", error_kind="internal"
        )

    def _ended(self, progress: answering.Progress) -> bool:
        """The answer's stream ended: hand its outcome to the reader, or, when the client
        went away, say that the producer settles it."""
        with self._lock:
            self._progress = progress
            settle_here = self._abandoned and self._claim()
        if not settle_here:
            self._hand_over(progress)
        return settle_here

    def _hand_over(self, item) -> None:
        with self._lock:
            waiting = not self._items  # else the reader was woken already and will take it
            self._items.append(item)
            reader = self._reader
        if reader is not None and waiting:
            loop, ready = reader
            if asyncio._get_running_loop() is loop:  # the producer is a task on the reader's loop
                ready.set()
                return
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # the loop is gone: nobody is reading any more
                pass

    def _settle_here(self, progress: answering.Progress) -> None:
        try:
            answering.settle(self.answer, _Ignore(), progress)
        finally:
            connections.close_all()  # a pool thread keeps no database connection

    # --- the request's coroutine -----------------------------------------------------

    async def items(self):
        """The answer's text as it comes (when wanted), then its :class:`answering.Progress`."""
        async for batch in self.batches():
            for item in batch:
                yield item

    async def batches(self, *, idle_seconds: float | None = None):
        """:meth:`items` in lists of what arrived since the last one was read: a reader
        that falls behind a fast backend catches up in one write, not one per chunk.
        ``idle_seconds``: an empty list after that long with nothing (to keep the
        connection alive)."""
        ready = asyncio.Event()
        with self._lock:
            self._reader = (asyncio.get_running_loop(), ready)
        while True:
            with self._lock:
                batch = list(self._items)
                self._items.clear()
                if not batch:
                    ready.clear()
            if not batch:
                try:
                    async with asyncio.timeout(idle_seconds):  # no task of its own, as wait_for's
                        await ready.wait()
                except TimeoutError:
                    yield []
                continue
            for index, item in enumerate(batch):
                if isinstance(item, answering.Progress):
                    yield batch[: index + 1]
                    return
            yield batch

    async def settle(self, progress: answering.Progress) -> None:
        with self._lock:
            mine = self._claim()
        if mine:
            await in_database_thread(answering.settle)(self.answer, _Ignore(), progress)

    def abandon(self) -> None:
        """The client went away: stop the answer (it is stored as stopped, with its event)."""
        with self._lock:
            self._abandoned = True
            progress = self._progress
            settle_here = progress is not None and self._claim()
        if settle_here:
            _pool.submit(self._settle_here, progress)
        elif progress is None:
            self._cancel.set()  # streamed here: stops at once
            _pool.submit(streams.request_cancel, self.answer.public_id)  # a worker's

    def _claim(self) -> bool:
        """Whether the caller is the one to settle (call with the lock held)."""
        if self._settling:
            return False
        self._settling = True
        return True


class Restorer(OutsideLinksRestorer):
    """Puts the real values back into an answer that arrives in pieces, but never where
    the client, rendering it as Markdown, could read an address: there the placeholder
    stays. A placeholder can be cut between two chunks (``[EMAIL`` then ``_1]``), and
    its word may yet become an address: that much is held back until the next says."""

    def __init__(self, pseudonymiser: Pseudonymiser):
        super().__init__(pseudonymiser.mapping["values"])
