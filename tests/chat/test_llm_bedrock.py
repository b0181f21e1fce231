"""AWS Bedrock through boto3 against a fake Bedrock on loopback (AWS event-stream framing)."""

import pytest

from chat.llm import ChatMessage, LLMError, Usage, adapter_for
from tests.chat.conftest import AWS_KEY_ID, KEY
from tests.fakes.llm_servers import FakeLLM

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello")]


@pytest.fixture
def bedrock():
    server = FakeLLM("bedrock")
    yield server
    server.stop()


def _stream(backend) -> tuple[list[str], object]:
    adapter = adapter_for(backend)
    seen = []
    with pytest.raises(LLMError) as info:
        for chunk in adapter.stream(MESSAGES, timeout=5):
            seen.append(chunk)
    assert KEY not in str(info.value)
    return seen, info.value


def test_it_streams_and_reports_usage_with_a_stored_key(bedrock, backend_for):
    adapter = adapter_for(backend_for(bedrock))
    assert "".join(adapter.stream(MESSAGES, timeout=5)) == "Hello, world!"
    assert adapter.usage == Usage(12, 4)
    assert bedrock.last.body["inferenceConfig"] == {"maxTokens": 4096}
    assert "/eu-central-1/bedrock/aws4_request" in bedrock.last.headers["authorization"]


def test_an_exception_event_mid_answer_is_a_clear_error(bedrock, backend_for):
    bedrock.stream_exception = ("modelStreamErrorException", f"The model stopped ({KEY})")
    seen, error = _stream(backend_for(bedrock))
    assert seen == ["Hello"]  # what came before the exception
    assert (error.kind, error.status) == ("http", 502)
    assert "The model stopped ([key])" in str(error)


def test_throttling_mid_answer_says_so(bedrock, backend_for):
    bedrock.stream_exception = ("throttlingException", "Too many tokens, please wait.")
    _, error = _stream(backend_for(bedrock))
    assert error.status == 429 and "Too many tokens" in str(error)


def test_throttling_before_the_stream_is_one_attempt_and_a_clear_error(bedrock, backend_for):
    bedrock.fail = 429
    bedrock.error_body = lambda status: {"message": "Too many requests, please wait."}
    _, error = _stream(backend_for(bedrock))
    assert (error.kind, error.status) == ("http", 429)
    assert "HTTP 429: Too many requests, please wait." in str(error)
    assert len(bedrock.requests) == 1  # no retries: the answer's Retry is the user's


def test_access_denied_is_an_auth_error(bedrock, backend_for):
    bedrock.fail = 403
    bedrock.error_body = lambda status: {"message": "You don't have access to the model."}
    _, error = _stream(backend_for(bedrock))
    assert (error.kind, error.status) == ("auth", 403)
    assert "You don't have access to the model." in str(error)


def test_without_a_key_it_uses_the_standard_aws_sources(bedrock, backend_for, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    adapter = adapter_for(backend_for(bedrock, key=None, region=""))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert "".join(adapter.stream(MESSAGES, timeout=5)) == "Hello, world!"
    signature = bedrock.last.headers["authorization"]
    assert "Credential=AKIAFROMENVIRONMENT0/" in signature and "/eu-west-3/" in signature


def test_no_credentials_anywhere_is_a_configuration_error(bedrock, backend_for):
    _, error = _stream(backend_for(bedrock, key=None))
    assert error.kind == "config" and "no AWS credentials" in str(error)
    assert bedrock.requests == []


def test_a_key_in_the_wrong_form_is_a_configuration_error(bedrock, backend_for):
    backend = backend_for(bedrock)
    backend.seal_credential("just-a-secret")
    with pytest.raises(LLMError) as info:
        adapter_for(backend)
    assert info.value.kind == "config" and "ACCESS_KEY_ID:SECRET_ACCESS_KEY" in str(info.value)


def test_a_session_token_is_sent(bedrock, backend_for):
    backend = backend_for(bedrock)
    backend.seal_credential(f"{AWS_KEY_ID}:{KEY}:session-token-1")
    "".join(adapter_for(backend).stream(MESSAGES, timeout=5))
    assert bedrock.last.headers["x-amz-security-token"] == "session-token-1"


def test_without_an_address_it_calls_the_regions_endpoint(bedrock, backend_for):
    adapter = adapter_for(backend_for(bedrock, base_url=""))
    client = adapter._client(5)
    assert client.meta.endpoint_url == "https://bedrock-runtime.eu-central-1.amazonaws.com"
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_check_asks_for_one_token_with_converse(bedrock, backend_for):
    health = adapter_for(backend_for(bedrock)).check(timeout=5)
    assert health.ok
    assert bedrock.last.path.endswith("/converse")
    assert bedrock.last.body["inferenceConfig"] == {"maxTokens": 1}
