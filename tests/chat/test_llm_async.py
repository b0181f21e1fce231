"""Adapter.astream: the kinds with an async client, on an event loop, against the fakes.

What the thread path promises (tests/chat/test_llm.py) holds here too: the same
request reaches the backend, and every failure is the same LLMError.
"""

import asyncio
import threading
import time

import pytest

from chat import llm
from chat.llm import ChatMessage, LLMError, Sampling, Usage, adapter_for
from chat.llm.adapter import _async_clients
from chat.stopping import Cancel
from governance.models import Backend
from tests.chat.conftest import KEY
from tests.fakes.llm_servers import FakeLLM

MESSAGES = [
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "Say hello to [PERSON_1]."),
]
ASYNC_KINDS = ["ollama", "openai", "mistral", "anthropic"]


@pytest.fixture(params=ASYNC_KINDS)
def fake(request):
    server = FakeLLM(request.param)
    yield server
    server.stop()


@pytest.fixture
def backend(fake, backend_for):
    return backend_for(fake)


def _chunks(
    backend, *, cancel_after: int | None = None, cancel=None, **kwargs
) -> tuple[list[str], object]:
    """The answer's chunks read on a fresh event loop (its clients closed after)."""
    adapter = adapter_for(backend)
    cancel = cancel or threading.Event()

    async def read():
        chunks = []
        try:
            async for text in adapter.astream(
                MESSAGES, timeout=kwargs.pop("timeout", 5), cancel=cancel, **kwargs
            ):
                chunks.append(text)
                if len(chunks) == cancel_after:
                    cancel.set()
        finally:
            await llm.close_async_clients()
        return chunks

    return asyncio.run(read()), adapter


def _failure(backend, **kwargs) -> LLMError:
    with pytest.raises(LLMError) as info:
        _chunks(backend, **kwargs)
    assert KEY not in str(info.value)
    return info.value


def test_only_kinds_with_a_plain_async_client_stream_on_the_loop(backend_for):
    kinds = {kind for kind in Backend.Kind.values if llm.can_stream_async(Backend(kind=kind))}
    assert kinds == set(ASYNC_KINDS)


def test_it_streams_the_chunks_and_reports_usage(backend):
    chunks, adapter = _chunks(backend)
    assert chunks == ["Hello", ", ", "world", "!"]
    assert adapter.usage == Usage(12, 4)
    assert adapter.finish == llm.STOPPED


def test_the_backend_receives_what_the_thread_path_sends(fake, backend):
    sampling = Sampling(temperature=0.5, top_p=0.9, max_tokens=64, stop=("END",))
    _chunks(backend, sampling=sampling)
    on_the_loop = fake.last
    "".join(adapter_for(backend).stream(MESSAGES, timeout=5, sampling=sampling))
    in_a_thread = fake.last
    assert on_the_loop.path == in_a_thread.path
    assert on_the_loop.body == in_a_thread.body
    for header in ("authorization", "x-api-key", "anthropic-version"):
        assert on_the_loop.headers.get(header) == in_a_thread.headers.get(header)
    signed = on_the_loop.headers.get("x-api-key") or on_the_loop.headers.get("authorization")
    assert KEY in signed


@pytest.mark.parametrize("finish", ["length", "content_filter"])
def test_it_says_why_the_answer_ended(fake, backend, finish):
    fake.finish = finish
    _, adapter = _chunks(backend)
    no_filter_of_its_own = fake.kind == "ollama" and finish == "content_filter"
    assert adapter.finish == ("stop" if no_filter_of_its_own else finish)


@pytest.mark.parametrize("fail", [500, 401, "hang", "cut", "garbage", "nobody listening"])
def test_each_failure_is_the_llm_error_the_thread_path_raises(fake, backend, fail):
    """aiohttp's exceptions are not httpx's: a refused connection, say, comes through the
    SDK as a timeout, and must still read "Cannot connect"."""
    if fail == "nobody listening":
        fake.stop()
    fake.fail = fail
    fake.error_body = lambda status: {"error": {"message": f"boom with {KEY} inside"}}
    on_the_loop = _failure(backend, timeout=0.3)
    with pytest.raises(LLMError) as in_a_thread:
        "".join(adapter_for(backend).stream(MESSAGES, timeout=0.3))
    expected = {
        500: "http",
        401: "auth",
        "hang": "timeout",
        "cut": "connection",
        "garbage": "malformed",
        "nobody listening": "connection",
    }[fail]
    assert on_the_loop.kind == in_a_thread.value.kind == expected
    assert str(on_the_loop) == str(in_a_thread.value)
    assert on_the_loop.status == in_a_thread.value.status


def test_cancel_stops_the_stream_early(fake, backend):
    fake.reply = [f"w{i} " for i in range(200)]
    fake.delay = 0.002
    chunks, adapter = _chunks(backend, cancel_after=3)
    assert chunks == ["w0 ", "w1 ", "w2 "]
    assert adapter.usage is None


def test_a_stop_ends_the_wait_for_a_silent_backend_at_once(fake, backend):
    """As on the thread path (tests/chat/test_llm.py): set from another thread, as the
    heartbeat sets it, the flag cancels the wait for the next chunk."""
    fake.fail = "hang"
    cancel = Cancel()
    threading.Timer(0.2, cancel.set).start()
    began = time.monotonic()
    chunks, adapter = _chunks(backend, cancel=cancel)
    assert chunks == [] and adapter.usage is None
    assert time.monotonic() - began < 2


def test_answers_on_one_loop_share_a_client_and_its_connection(fake, backend):
    async def two_answers():
        try:
            for _ in range(2):
                async for _text in adapter_for(backend).astream(MESSAGES, timeout=5):
                    pass
            return len(_async_clients[asyncio.get_running_loop()])
        finally:
            await llm.close_async_clients()

    assert asyncio.run(two_answers()) == 1
    assert len({request.client_port for request in fake.requests}) == 1
