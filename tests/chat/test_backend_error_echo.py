"""A backend's error answer is repeated only when it is an LLM API's error object.

A policy admin chooses a backend's address, so "Test connection" (and a chat answer) can be
pointed at any service the server reaches: its error pages must not come back word for word.
"""

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chat.llm import ChatMessage, LLMError, adapter_for
from tests.chat.conftest import BACKEND_VALUES, KEY, MODELS, key_for
from tests.factories import make_backend

SECRET = "INTERNAL-SECRET-BODY db_password=hunter2"
#: The kinds whose failures go through the common error mapping (Bedrock's go through boto3).
KINDS = ["ollama", "openai", "anthropic", "mistral", "azure"]
NOT_LLM = "(not an LLM API's error)"


@dataclass
class InternalService:
    """Any path answers ``status`` with ``body`` (bytes as they are, else JSON)."""

    status: int = 404
    body: object = SECRET.encode()

    def __post_init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler_for(service: InternalService):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = service.body
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(service.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

    return Handler


@pytest.fixture(scope="module")
def _server():
    server = InternalService()
    yield server
    server.stop()


@pytest.fixture
def service(_server):
    _server.status, _server.body = InternalService.status, InternalService.body
    return _server


@pytest.fixture(params=KINDS)
def backend(request, db, service):
    kind = request.param
    path = {"openai": "/v1", "mistral": "/v1", "azure": "/openai"}.get(kind, "")
    backend = make_backend(
        name=f"Probe {kind}", kind=kind, base_url=service.url + path, model=MODELS[kind]
    )
    backend.seal_credential(key_for(kind))
    backend.save(update_fields=["credential_encrypted"])
    return backend


def _checked(backend) -> str:
    health = adapter_for(backend).check(timeout=5)
    assert not health.ok
    return health.error


def _answered(backend) -> LLMError:
    with pytest.raises(LLMError) as info:
        "".join(adapter_for(backend).stream([ChatMessage("user", "hi")], timeout=5))
    return info.value


@pytest.mark.parametrize(
    "body",
    [
        SECRET.encode(),
        b"<html><body>" + SECRET.encode() + b"</body></html>",
        {"message": SECRET},  # not an error object of any LLM API
        {"detail": SECRET},
        {"error": {"detail": SECRET}},
        {"error": [SECRET]},
        [{"error": {"message": SECRET}}],
        {"object": "list", "message": SECRET},
    ],
)
def test_an_answer_that_is_not_an_llm_error_is_not_repeated(service, backend, body):
    service.body = body
    said, failure = _checked(backend), _answered(backend)
    assert "hunter2" not in said + str(failure) and "INTERNAL" not in said + str(failure)
    if backend.kind == "ollama" and isinstance(body, list):  # its client cannot read it
        assert "not what its protocol says" in said
        return
    assert f"answered HTTP 404 {NOT_LLM}." in said
    assert failure.status == 404 and failure.kind == "http" and NOT_LLM in str(failure)


def test_a_refusal_that_is_not_an_llm_error_is_not_repeated(service, backend):
    service.status = 401
    said = _checked(backend)
    assert "hunter2" not in said
    assert f"refused the API key (HTTP 401, {NOT_LLM[1:-1]})." in said


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "the model crashed", "type": "server_error", "code": None}},
        {"type": "error", "error": {"type": "api_error", "message": "the model crashed"}},
        {"error": "the model crashed"},  # Ollama's
        {"object": "error", "message": "the model crashed", "type": "invalid_request_error"},
    ],
)
def test_an_llm_apis_error_message_is_shown(service, backend, body):
    service.status = 500
    service.body = body
    assert "answered HTTP 500: the model crashed" in _checked(backend)
    assert "answered HTTP 500: the model crashed" in str(_answered(backend))


def test_the_vendors_message_is_cut_and_loses_its_control_characters(service, backend):
    service.status = 400
    said = "too\x1b[31m long\x00 for\u202e the\u200b model; " + "x" * 500
    service.body = {"error": {"message": said}}
    shown = str(_answered(backend))
    assert shown.endswith(
        "answered HTTP 400: " + ("too[31m long for the model; " + "x" * 500)[:200]
    )
    assert KEY not in shown


def test_a_context_length_refusal_keeps_its_words_and_code(service, backend):
    """What a person can act on (shorten the conversation) is still said."""
    service.status = 400
    too_long = "This model's maximum context length is 8192 tokens."
    service.body = {"error": {"message": too_long, "code": "context_length_exceeded"}}
    failure = _answered(backend)
    assert too_long in str(failure)
    if backend.kind != "ollama":  # Ollama's errors carry no code
        assert failure.code == "context_length_exceeded"


def test_test_connection_does_not_show_another_services_page(client, admin, service):
    backend = make_backend(name="Probe", kind="ollama", base_url=service.url + "/admin")
    client.force_login(admin)
    page = client.post(f"/policy/backends/{backend.public_id}/test/", follow=True).content
    backend.refresh_from_db()
    assert f"Probe answered HTTP 404 {NOT_LLM}." == backend.health_error
    assert b"hunter2" not in page and b"not an LLM API" in page


@pytest.mark.parametrize("body", [SECRET.encode(), {"detail": SECRET}, {"message": SECRET}])
def test_bedrock_repeats_no_page_that_is_not_an_aws_error(service, db, body):
    """boto3 reads a body that is no AWS error (no error type) as the error's message: it is
    another service's page, and stays unrepeated like the other kinds'."""
    service.body = body
    backend = make_backend(
        name="Probe bedrock",
        kind="bedrock",
        base_url=service.url,
        model=MODELS["bedrock"],
        **BACKEND_VALUES["bedrock"],
    )
    backend.seal_credential(key_for("bedrock"))
    backend.save(update_fields=["credential_encrypted"])
    said, failure = _checked(backend), _answered(backend)
    assert "hunter2" not in said + str(failure) and "INTERNAL" not in said + str(failure)
    assert f"answered HTTP 404 {NOT_LLM}." in said
