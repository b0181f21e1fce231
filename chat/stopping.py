"""Stopping a backend call at once, even while the backend says nothing.

A stop pressed while a local model loads, or while a reasoning model thinks
before its first words, used to wait for the next bytes from the backend (or
for the read timeout, two minutes): the answer stayed "answering", and its
author could not send another message. A blocked read cannot be interrupted
from another thread (closing its response does not wake it), so:

- the thread path waits for the backend's first words in a thread of its
  own (:func:`read_aside`), and the caller stops waiting the moment the flag
  is set; the reader ends when its read does, and closes the call then;
- the event-loop path cancels the task's wait for the next chunk
  (:func:`until_cancelled`), which closes the call at once.

Either needs a :class:`Cancel` (a plain ``threading.Event`` is still looked at
between chunks, as before).
"""

import asyncio
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator


class Cancel(threading.Event):
    """A call's stop flag that also wakes whoever waits on the call: the callbacks given to
    :meth:`when_set` run once, in the thread that sets it (the heartbeat's, which found the
    author's stop; or the request's, whose client hung up)."""

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def when_set(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the flag is set (now, if it is); returns what forgets it."""
        with self._guard:
            if not self.is_set():
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def set(self) -> None:
        with self._guard:
            if self.is_set():
                return
            super().set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._guard:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


_END = object()
_WAITING = object()


def read_aside(
    chunks: Generator[str], cancel: Cancel, on_wait: Callable[[], None] | None = None
) -> tuple[Iterator[str], Callable[[], None]]:
    """``chunks``, whose first text is waited for in a thread of its own: iterating what
    this returns ends as soon as ``cancel`` is set, even while the backend is silent.

    The silence a stop must cut through comes before the first words (a model loading,
    a reasoning model thinking); after them an answer flows, and a stop is seen at the
    next chunk. So the caller reads on from ``chunks`` itself once the first text is in:
    one thread and one hand-over per answer, not per chunk (which cost a thread switch
    each, ~50 µs of CPU).

    Returns the iterator and the ``on_wait`` to hand the producer: it is called in the
    reader's thread, and ``on_wait`` itself in the caller's (which owns what it writes
    to). Exceptions come out of the iterator as they left ``chunks``. A reader left
    waiting closes ``chunks`` when its wait ends.
    """
    handoff: queue.SimpleQueue = queue.SimpleQueue()
    lock = threading.Lock()
    state = {"reading": True, "abandoned": False}

    def read_first() -> None:
        try:
            item = next(chunks)
        except StopIteration:
            item = _END
        except BaseException as exc:  # noqa: BLE001 (handed to the caller, who raises it)
            item = exc
        with lock:
            state["reading"] = False
            abandoned = state["abandoned"]
        if abandoned:
            chunks.close()
        else:
            handoff.put(item)

    def texts() -> Iterator[str]:
        forget = cancel.when_set(lambda: handoff.put(_END))
        threading.Thread(target=read_first, name="backend-reader", daemon=True).start()
        try:
            while (item := handoff.get()) is _WAITING:
                if on_wait is not None:
                    on_wait()
            if item is _END:  # stopped, or the backend ended without a word
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            yield from chunks  # in the caller's thread from here on
        finally:
            forget()
            with lock:
                state["abandoned"] = True
                reader_done = not state["reading"]
            if reader_done:  # else the reader closes them when its wait ends
                chunks.close()

    return texts(), lambda: handoff.put(_WAITING)


async def until_cancelled(chunks: AsyncGenerator[str], cancel: Cancel) -> AsyncIterator[str]:
    """``chunks`` (closed at the end), ending quietly as soon as ``cancel`` is set: the
    running task's wait for the next chunk is cancelled (which closes the call). Any other
    cancellation of the task goes on as it came."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    waiting = interrupted = False

    def interrupt() -> None:  # on the loop: ``waiting`` is read where it is written
        nonlocal interrupted
        if waiting and not interrupted:
            interrupted = True
            task.cancel()

    def interrupt_soon() -> None:  # in the thread that sets the flag
        try:
            loop.call_soon_threadsafe(interrupt)
        except RuntimeError:  # the loop is closed: nothing waits on it any more
            pass

    forget = cancel.when_set(interrupt_soon)
    try:
        while True:
            waiting = True
            try:
                text = await anext(chunks)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if interrupted and task.uncancel() == 0:
                    return
                raise
            finally:
                waiting = False
            yield text
    finally:
        forget()
        await chunks.aclose()
