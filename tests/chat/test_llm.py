"""chat.llm against fake backends on loopback, through the vendors' real clients."""

import json
import threading
import time
from urllib.parse import quote

import pytest

from chat.llm import ChatMessage, LLMError, Sampling, Usage, adapter_for
from chat.stopping import Cancel
from tests.chat.conftest import AWS_KEY_ID, KEY, key_for
from tests.fakes.llm_servers import FakeLLM

MESSAGES = [
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "Say hello to [PERSON_1]."),
]
TIMEOUT = 0.2


def _answer(backend, **kwargs) -> tuple[str, object]:
    adapter = adapter_for(backend)
    text = "".join(adapter.stream(MESSAGES, timeout=kwargs.pop("timeout", 5), **kwargs))
    return text, adapter


def _failure(backend, **kwargs) -> LLMError:
    with pytest.raises(LLMError) as info:
        _answer(backend, **kwargs)
    assert KEY not in str(info.value)
    return info.value


def test_it_streams_the_answer_in_chunks(fake, backend):
    adapter = adapter_for(backend)
    chunks = list(adapter.stream(MESSAGES, timeout=5))
    assert chunks == ["Hello", ", ", "world", "!"]


def test_it_reports_usage(fake, backend):
    _, adapter = _answer(backend)
    assert adapter.usage == Usage(12, 4)


def _signed_with(fake, secret: str) -> bool:
    """Whether the fake's last request carried ``secret`` as its key."""
    headers = fake.last.headers
    if fake.kind == "bedrock":  # SigV4: the key id is named, the secret only signs
        signature = headers.get("authorization", "")
        return f"Credential={AWS_KEY_ID}/" in signature and secret not in json.dumps(headers)
    # Anthropic's client sends either header, depending on its version; Azure's is api-key
    return secret in (
        headers.get("x-api-key"),
        headers.get("api-key"),
        headers.get("authorization", "").removeprefix("Bearer "),
    )


def test_the_backend_receives_the_model_and_the_messages(fake, backend):
    _answer(backend)
    body = fake.last.body
    if fake.kind == "bedrock":  # the model is in the path, the system prompt a parameter
        assert fake.last.path == f"/model/{quote(backend.model, safe='')}/converse-stream"
        assert body["system"] == [{"text": "Be brief."}]
        user = {"role": "user", "content": [{"text": "Say hello to [PERSON_1]."}]}
        assert body["messages"] == [user]
        return
    assert body["model"] == backend.model
    assert body["stream"] is True
    said = [(m["role"], m["content"]) for m in body["messages"]]
    if fake.kind == "anthropic":  # the system prompt is a parameter of its own there
        assert body["system"] == "Be brief."
        assert said == [("user", "Say hello to [PERSON_1].")]
    else:
        assert said == [("system", "Be brief."), ("user", "Say hello to [PERSON_1].")]


def test_the_sampling_asked_for_reaches_the_backend_in_its_terms(fake, backend):
    stop = ("\nObservation:", "END")
    asked = Sampling(
        temperature=1.5,
        top_p=0.9,
        max_tokens=64,
        stop=stop,
        seed=42,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
    )
    _answer(backend, sampling=asked)
    body = fake.last.body
    penalties = {"frequency_penalty": 0.5, "presence_penalty": -0.5}
    openai_terms = {"temperature": 1.5, "top_p": 0.9, "max_tokens": 64, "stop": [*stop],
                    "seed": 42, **penalties}  # fmt: skip
    sent, expected = body, openai_terms
    if fake.kind in ("azure", "azure_v1"):
        expected = {**openai_terms, "max_completion_tokens": 64}
        del expected["max_tokens"]
    elif fake.kind == "mistral":
        expected = {**openai_terms, "random_seed": 42}
        del expected["seed"]
    elif fake.kind == "ollama":
        sent = body["options"]
        expected = {"temperature": 1.5, "top_p": 0.9, "num_predict": 64, "stop": [*stop],
                    "seed": 42, **penalties}  # fmt: skip
    # Anthropic's and Bedrock's temperatures go from 0 to 1: OpenAI's 1.5 is their most.
    # Neither takes a seed or penalties: they are not sent.
    elif fake.kind == "anthropic":
        expected = {"temperature": 1.0, "top_p": 0.9, "max_tokens": 64, "stop_sequences": [*stop]}
        assert not {"seed", *penalties} & set(body)
    elif fake.kind == "bedrock":
        sent = body["inferenceConfig"]
        expected = {"temperature": 1.0, "topP": 0.9, "maxTokens": 64, "stopSequences": [*stop]}
        assert not {"seed", *penalties} & set(json.dumps(body).split('"'))
    assert {name: sent.get(name) for name in expected} == expected


@pytest.mark.parametrize("finish", ["stop", "length", "content_filter"])
def test_it_says_why_the_answer_ended_in_openais_words(fake, backend, finish):
    fake.finish = finish
    if fake.kind == "ollama" and finish == "content_filter":
        finish = "stop"  # Ollama has no content filter of its own to report
    _, adapter = _answer(backend)
    assert adapter.finish == finish


def test_an_ollama_backends_context_budget_reaches_ollama(backend_for):
    """Ollama reads its own default window (a few thousand tokens) unless told: the history
    a raised budget sends would be silently dropped."""
    fake = FakeLLM("ollama")
    try:
        _answer(backend_for(fake, key=None))
        assert not fake.last.body.get("options")
        _answer(backend_for(fake, key=None, name="Long", context_tokens=32_768))
        assert fake.last.body.get("options") == {"num_ctx": 32_768}
    finally:
        fake.stop()


def test_without_sampling_the_backend_keeps_its_own_defaults(fake, backend):
    _answer(backend)
    body = fake.last.body
    assert "temperature" not in json.dumps(body) and "top_p" not in json.dumps(body)
    assert '"stop' not in json.dumps(body)  # stop, stop_sequences, stopSequences
    assert "options" not in body or not body["options"]  # Ollama's


def test_it_sends_the_sealed_key(fake, backend):
    _answer(backend)
    assert _signed_with(fake, KEY)


def test_it_reads_the_key_from_the_environment(fake, backend_for, monkeypatch):
    monkeypatch.setenv("STEWARD_TEST_LLM_KEY", key_for(fake.kind, "sk-from-env"))
    _answer(backend_for(fake, key=None, credential_env="STEWARD_TEST_LLM_KEY"))
    assert _signed_with(fake, "sk-from-env")


def test_openai_answers_reuse_one_connection(backend_for):
    """The body is read to its end, so the next answer needs no new connection (TLS, in life)."""
    fake = FakeLLM("openai")
    try:
        backend = backend_for(fake)
        _answer(backend)
        _, adapter = _answer(backend)
        pool = adapter._shared_client(5)._client._transport._pool
        assert len(pool.connections) == 1
        assert "Request Count: 2" in str(pool.connections[0])
    finally:
        fake.stop()


def test_openai_asks_for_usage_in_the_stream(backend_for):
    fake = FakeLLM("openai")
    try:
        _answer(backend_for(fake))
        assert fake.last.body["stream_options"] == {"include_usage": True}
    finally:
        fake.stop()


def test_an_unset_environment_variable_is_a_configuration_error(fake, backend_for, monkeypatch):
    monkeypatch.delenv("STEWARD_UNSET_KEY", raising=False)
    backend = backend_for(fake, key=None, credential_env="STEWARD_UNSET_KEY")
    with pytest.raises(LLMError) as info:
        adapter_for(backend)
    assert info.value.kind == "config"
    # Whose variable it is: the server's (a /v1 caller has a key of their own at hand).
    assert "STEWARD_UNSET_KEY, which is not set on the Steward server" in str(info.value)
    assert fake.requests == []


def test_a_variable_holding_one_of_stewards_own_secrets_is_never_sent(
    fake, backend_for, monkeypatch
):
    """The form refuses such a name; a row stored before it did is refused here."""
    monkeypatch.setenv("STEWARD_MASTER_KEY_FILE", "/run/secrets/master_key")
    backend = backend_for(fake, key=None, credential_env="STEWARD_MASTER_KEY_FILE")
    with pytest.raises(LLMError) as info:
        adapter_for(backend)
    assert info.value.kind == "config"
    assert "one of Steward's own secrets" in str(info.value)
    assert fake.requests == []


def test_anthropic_without_a_key_is_a_configuration_error(backend_for):
    fake = FakeLLM("anthropic")
    try:
        with pytest.raises(LLMError) as info:
            adapter_for(backend_for(fake, key=None))
        assert info.value.kind == "config"
    finally:
        fake.stop()


@pytest.mark.parametrize(
    ("fail", "error_kind"),
    [(500, "http"), (404, "http"), (401, "auth"), (403, "auth")],
)
def test_http_errors_become_llm_errors(fake, backend, fail, error_kind):
    fake.fail = fail
    error = _failure(backend)
    assert error.kind == error_kind
    assert error.status == fail
    assert f"HTTP {fail}" in str(error)
    assert backend.name in str(error)


def test_the_servers_message_is_shown_without_the_key(fake, backend):
    fake.fail = 500
    said = f"boom with {KEY} inside"
    fake.error_body = lambda status: (
        {"message": said} if fake.kind == "bedrock" else {"error": {"message": said}}
    )
    error = _failure(backend)
    assert "boom with [key] inside" in str(error)


def test_a_key_echoed_near_the_cut_of_a_server_message_is_not_shown(fake, backend):
    """The server's words are cut to a length: a key clipped by the cut is still scrubbed."""
    fake.fail = 401
    said = "Incorrect API key provided: ".ljust(200 - len(KEY) + 2, ".") + KEY + " (check it)"
    fake.error_body = lambda status: (
        {"message": said} if fake.kind == "bedrock" else {"error": {"message": said}}
    )
    error = _failure(backend)
    assert error.kind == "auth"
    assert KEY[:12] not in str(error)


def test_an_error_event_in_anthropics_stream_is_not_reported_as_http_200(backend_for):
    """Anthropic reports overload mid-stream, as an ``error`` event inside a 200 response."""
    fake = FakeLLM("anthropic")
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.events = lambda body: [
        *FakeLLM.events(fake, body)[:1],
        f"event: error\ndata: {json.dumps(error)}\n\n".encode(),
    ]
    try:
        failure = _failure(backend_for(fake))
    finally:
        fake.stop()
    assert str(failure) == "Fake anthropic reported an error: Overloaded"
    assert failure.kind == "http" and failure.status is None


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_an_error_event_in_the_stream_is_cut_and_scrubbed_like_an_http_error(kind, backend_for):
    """A server's in-stream error message may be pages long (a stack trace, the request
    echoed back): cut as an HTTP error's is, the key scrubbed before the cut."""
    fake = FakeLLM(kind)
    said = "Internal error: ".ljust(200 - len(KEY) + 2, ".") + KEY + " and more " * 500
    if kind == "anthropic":
        error = {"type": "error", "error": {"type": "api_error", "message": said}}
        event = f"event: error\ndata: {json.dumps(error)}\n\n"
    else:
        event = f"data: {json.dumps({'error': {'message': said}})}\n\n"
    fake.events = lambda body: [*FakeLLM.events(fake, body)[:1], event.encode()]
    try:
        failure = _failure(backend_for(fake))
    finally:
        fake.stop()
    assert str(failure).startswith(f"Fake {kind} reported an error: Internal error: ...")
    assert KEY[:12] not in str(failure)
    assert len(str(failure)) < 300


def test_a_silent_backend_times_out(fake, backend):
    fake.fail = "hang"
    error = _failure(backend, timeout=TIMEOUT)
    assert error.kind == "timeout"
    assert "did not answer in time" in str(error)


def test_a_stream_cut_midway_is_a_connection_error(fake, backend):
    fake.fail = "cut"
    with pytest.raises(LLMError) as info:
        adapter = adapter_for(backend)
        list(adapter.stream(MESSAGES, timeout=5))
    assert info.value.kind == "connection"
    assert "lost mid-answer" in str(info.value)


def test_garbage_is_a_malformed_stream(fake, backend):
    fake.fail = "garbage"
    error = _failure(backend)
    assert error.kind == "malformed"


def test_nobody_listening_is_a_connection_error(fake, backend):
    fake.stop()
    error = _failure(backend)
    assert error.kind == "connection"
    assert "Cannot connect" in str(error)


def test_cancel_stops_the_stream_early(fake, backend):
    fake.reply = [f"w{i} " for i in range(200)]
    fake.delay = 0.002
    cancel = threading.Event()
    adapter = adapter_for(backend)
    seen = []
    for chunk in adapter.stream(MESSAGES, timeout=5, cancel=cancel):
        seen.append(chunk)
        if len(seen) == 3:
            cancel.set()
    assert seen == ["w0 ", "w1 ", "w2 "]
    assert adapter.usage is None


def test_check_reports_ok_with_a_latency(fake, backend):
    health = adapter_for(backend).check(timeout=5)
    assert health.ok is True
    assert health.error == ""
    assert health.latency_ms >= 0
    # Bedrock's runtime and Vertex AI's endpoint list no models: a one-token answer instead
    assert fake.last.method == ("POST" if fake.kind in ("bedrock", "vertex") else "GET")


def test_check_reports_errors(fake, backend):
    fake.fail = 401
    health = adapter_for(backend).check(timeout=5)
    assert health.ok is False
    assert "refused the API key" in health.error
    assert KEY not in health.error


def test_check_reports_a_timeout(fake, backend):
    fake.fail = "hang"
    health = adapter_for(backend).check(timeout=TIMEOUT)
    assert health.ok is False
    assert "did not answer in time" in health.error


def test_environment_variables_cannot_redirect_or_add_keys(backend_for, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_KEY", "someone-elses-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    fake = FakeLLM("ollama")
    try:
        _answer(backend_for(fake, key=None))
        assert "authorization" not in fake.last.headers
        openai_backend = backend_for(fake, name="OpenAI", kind="openai", base_url="")
        assert adapter_for(openai_backend).base_url == "https://api.openai.com/v1"
        anthropic_backend = backend_for(fake, name="Anthropic", kind="anthropic", base_url="")
        assert adapter_for(anthropic_backend).base_url == "https://api.anthropic.com"
    finally:
        fake.stop()


def test_a_stop_ends_the_wait_for_a_silent_backend_at_once(fake, backend):
    """A local model loading, a reasoning model thinking: nothing comes back, and the
    author pressed Stop. The call ends when the flag is set, not when the backend speaks
    or the read times out."""
    fake.fail = "hang"
    cancel = Cancel()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    began = time.monotonic()
    adapter = adapter_for(backend)
    assert list(adapter.stream(MESSAGES, timeout=5, cancel=cancel)) == []
    assert time.monotonic() - began < 2
    assert adapter.usage is None


def test_with_a_cancel_the_chunks_errors_and_usage_are_as_without(fake, backend):
    text, adapter = _answer(backend, cancel=Cancel())
    assert text == "Hello, world!" and adapter.usage == Usage(12, 4)
    fake.fail = 500
    assert _failure(backend, cancel=Cancel()).kind == "http"


@pytest.fixture
def openai_fake():
    server = FakeLLM("openai")
    yield server
    server.stop()


@pytest.mark.parametrize("path", ["", "/", "/api"])
def test_check_says_an_openai_address_without_a_version_should_likely_end_in_v1(
    openai_fake, backend_for, path
):
    """A server's root, written as one writes an Ollama address, is not the API root."""
    address = openai_fake.url.removesuffix("/v1") + path
    health = adapter_for(backend_for(openai_fake, base_url=address)).check(timeout=5)
    assert health.ok is False
    assert health.error == (
        f"Fake openai answered HTTP 404 to a model listing at {address}: "
        "the address should likely end in /v1."
    )


@pytest.mark.parametrize("path", ["/v1", "/openai/v1", "/v1beta/openai"])
def test_check_keeps_the_server_s_404_where_the_address_names_a_version(
    openai_fake, backend_for, path
):
    address = openai_fake.url.removesuffix("/v1") + path
    if path != "/v1":
        health = adapter_for(backend_for(openai_fake, base_url=address)).check(timeout=5)
    else:
        openai_fake.fail = 404
        health = adapter_for(backend_for(openai_fake)).check(timeout=5)
    assert health.ok is False
    assert "answered HTTP 404" in health.error
    assert "should likely end in /v1" not in health.error


def test_a_key_an_http_header_cannot_carry_is_a_configuration_error(fake, backend_for):
    """A key stored before the form refused such keys: said in words, and nothing is sent
    (not "not what its protocol says", which blames the server)."""
    if fake.kind in ("bedrock", "anthropic"):
        # Bedrock's secret only signs; Anthropic's transport (aiohttp) sends the header as
        # UTF-8, which the vendor refuses as a wrong key (HTTP 401): said in words already.
        pytest.skip("no header refused on our side")
    error = _failure(backend_for(fake, key="sk-abcé"))
    assert error.kind == "config"
    assert "could not send the request" in str(error)
    assert "characters an HTTP header cannot carry" in str(error)
    assert fake.requests == []
