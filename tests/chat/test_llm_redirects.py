"""A backend that answers with a redirect: the policy approved its address, not the one it
points to, so neither the (pseudonymised) question nor the key may go there."""

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chat import llm
from chat.llm import ChatMessage, LLMError, adapter_for
from tests.fakes.llm_servers import FakeLLM

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Quarterly figures [PERSON_1]")]
KINDS = ["ollama", "openai", "anthropic", "azure", "azure_v1", "vertex", "mistral", "bedrock"]
ASYNC_KINDS = ["ollama", "openai", "mistral", "anthropic"]


class Redirector:
    """A loopback server that answers every request with a 307 to the same path on ``to``."""

    def __init__(self, to: FakeLLM):
        host, port = to._server.server_address[:2]
        target = f"http://{host}:{port}"

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(307)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        host, port = self.server.server_address[:2]
        self.url = to.url.replace(target, f"http://{host}:{port}")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def elsewhere(request):
    server = FakeLLM(request.param)
    yield server
    server.stop()


@pytest.fixture
def redirecting(elsewhere, backend_for):
    """A backend whose address redirects to ``elsewhere`` (which would answer)."""
    redirector = Redirector(elsewhere)
    yield backend_for(elsewhere, base_url=redirector.url)
    redirector.stop()


def _assert_refused(error: str, elsewhere: FakeLLM):
    assert "redirected to another address" in error
    assert "Steward does not follow redirects" in error
    assert elsewhere.requests == []


@pytest.mark.parametrize("elsewhere", KINDS, indirect=True)
def test_a_backend_redirecting_elsewhere_sends_neither_the_question_nor_the_key_there(
    elsewhere, redirecting
):
    with pytest.raises(LLMError) as info:
        "".join(adapter_for(redirecting).stream(MESSAGES, timeout=5))
    assert info.value.kind == "http"
    _assert_refused(str(info.value), elsewhere)


@pytest.mark.parametrize("elsewhere", ASYNC_KINDS, indirect=True)
def test_on_the_event_loop_too(elsewhere, redirecting):
    async def read():
        try:
            return [t async for t in adapter_for(redirecting).astream(MESSAGES, timeout=5)]
        finally:
            await llm.close_async_clients()

    with pytest.raises(LLMError) as info:
        asyncio.run(read())
    assert info.value.kind == "http"
    _assert_refused(str(info.value), elsewhere)


@pytest.mark.parametrize("elsewhere", KINDS, indirect=True)
def test_test_connection_follows_no_redirect_either(elsewhere, redirecting):
    health = adapter_for(redirecting).check(timeout=5)
    assert health.ok is False
    _assert_refused(health.error, elsewhere)
