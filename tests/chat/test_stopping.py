"""chat.stopping: a stop ends the wait for a backend at once, whatever it is waiting for."""

import asyncio
import threading
import time

import pytest

from chat.stopping import Cancel, read_aside, until_cancelled


def iter_of(*items):
    yield from items


async def iter_async(*items):
    for item in items:
        yield item


def _later(seconds: float, action) -> None:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()


def test_a_cancel_runs_its_callbacks_once_and_at_once_when_already_set():
    cancel, called = Cancel(), []
    forgotten = cancel.when_set(lambda: called.append("forgotten"))
    cancel.when_set(lambda: called.append("kept"))
    forgotten()
    cancel.set()
    cancel.set()
    cancel.when_set(lambda: called.append("late"))
    assert called == ["kept", "late"] and cancel.is_set()


def _silent(released: threading.Event, closed: list):
    """A producer that says nothing until released (a model loading)."""
    try:
        released.wait(10)
        yield "too late"
    finally:
        closed.append(threading.current_thread().name)


def test_read_aside_passes_every_chunk_and_the_end():
    texts, _ = read_aside(iter_of("a", "b", "c"), Cancel())
    assert list(texts) == ["a", "b", "c"]


def test_read_aside_ends_the_wait_the_moment_the_flag_is_set():
    cancel, released, closed = Cancel(), threading.Event(), []
    texts, _ = read_aside(_silent(released, closed), cancel)
    _later(0.1, cancel.set)
    began = time.monotonic()
    assert list(texts) == []  # "too late" never comes: the flag ended the wait
    assert time.monotonic() - began < 2
    assert closed == []  # the reader still waits on the producer...
    released.set()
    deadline = time.monotonic() + 5
    while not closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed == ["backend-reader"]  # ...and closes it, in its own thread, when it speaks


def test_read_aside_raises_what_the_producer_raised():
    def failing():
        yield "partial"
        raise ValueError("the stream broke")

    texts, _ = read_aside(failing(), Cancel())
    assert next(texts) == "partial"
    with pytest.raises(ValueError, match="the stream broke"):
        next(texts)


def test_read_aside_calls_on_wait_in_the_callers_thread():
    threads = []
    holder = {}

    def waiting_first():
        holder["on_wait"]()  # as the built-in model does, from the reader's thread
        yield "answer"

    texts, holder["on_wait"] = read_aside(
        waiting_first(), Cancel(), on_wait=lambda: threads.append(threading.current_thread())
    )
    assert list(texts) == ["answer"]
    assert threads == [threading.current_thread()]


def test_after_the_first_text_the_caller_reads_on_in_its_own_thread():
    """One thread and one hand-over per answer: the rest flows to the caller directly, and
    closing the iterator closes the producer at once."""
    read_in, closed = [], []

    def answer():
        try:
            for n in range(1000):
                read_in.append(threading.current_thread().name)
                yield str(n)
        finally:
            closed.append(threading.current_thread().name)

    texts, _ = read_aside(answer(), Cancel())
    assert [next(texts) for _ in range(3)] == ["0", "1", "2"]
    texts.close()
    here = threading.current_thread().name
    assert read_in == ["backend-reader", here, here] and closed == [here]


def test_a_backend_that_ends_without_a_word_ends_the_iteration():
    texts, _ = read_aside(iter_of(), Cancel())
    assert list(texts) == []


async def _slow(started: asyncio.Event, closed: list):
    try:
        yield "first"
        started.set()
        await asyncio.sleep(10)
        yield "too late"
    finally:
        closed.append(True)


def test_until_cancelled_ends_the_wait_and_closes_the_source_at_once():
    async def main():
        cancel, started, closed = Cancel(), asyncio.Event(), []
        got = []
        _later(0.1, cancel.set)  # from another thread, as the heartbeat sets it
        began = time.monotonic()
        async for text in until_cancelled(_slow(started, closed), cancel):
            got.append(text)
        return got, closed, time.monotonic() - began

    got, closed, took = asyncio.run(main())
    assert got == ["first"] and closed == [True] and took < 2


def test_until_cancelled_leaves_any_other_cancellation_alone():
    async def main():
        cancel, started, closed = Cancel(), asyncio.Event(), []

        async def read():
            return [text async for text in until_cancelled(_slow(started, closed), cancel)]

        task = asyncio.create_task(read())
        await started.wait()
        task.cancel()  # the server stopping, say: not a stop of this answer
        with pytest.raises(asyncio.CancelledError):
            await task
        return closed

    assert asyncio.run(main()) == [True]


def test_until_cancelled_after_the_end_cancels_nothing():
    async def main():
        cancel = Cancel()
        got = [text async for text in until_cancelled(iter_async("a", "b"), cancel)]
        cancel.set()  # after the call ended: the task goes on untouched
        await asyncio.sleep(0.05)
        return got

    assert asyncio.run(main()) == ["a", "b"]


def test_a_flag_set_after_its_loop_closed_raises_nothing_in_the_setter():
    """The heartbeat's thread sets the flags of every stopped answer in turn: one whose
    event loop has closed (its process stopping) must not end the others' stops."""
    cancel = Cancel()

    async def read_one():
        async for _ in until_cancelled(_slow(asyncio.Event(), []), cancel):
            return  # left suspended: its callback stays registered

    loop = asyncio.new_event_loop()
    loop.run_until_complete(read_one())
    loop.close()
    cancel.set()
    assert cancel.is_set()
