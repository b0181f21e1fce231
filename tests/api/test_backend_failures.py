"""/v1 when the backend fails: the official client, with its default retries, asks once.

A retry of a governed request is a new governed request (another conversation, recorded
again, the backend called again), so every such answer says ``x-should-retry: false``; a
backend's refusal of the request keeps its status class and the vendor's code."""

import json

import openai
import pytest

from audit.models import AuditEvent
from chat.models import Conversation, Message

INTERNAL = {"X-Steward-Category": "internal"}
TOO_LONG = (
    "This model's maximum context length is 128000 tokens. However, your messages resulted "
    "in 130000 tokens. Please reduce the length of the messages."
)


def _refusing(fake, monkeypatch, status: int, error: dict, headers: dict | None = None):
    """``fake`` answers every request with ``status`` and the OpenAI-style ``error``."""
    fake.fail = status
    monkeypatch.setattr(fake, "error_body", lambda status: {"error": error})
    if headers:  # the fakes send no headers of their own choosing: add them to the answer
        handler = fake._server.RequestHandlerClass

        class WithHeaders(handler):
            def end_headers(self):
                for name, value in headers.items():
                    self.send_header(name, value)
                super().end_headers()

        monkeypatch.setattr(fake._server, "RequestHandlerClass", WithHeaders)


def _retrying(client: openai.OpenAI) -> openai.OpenAI:
    """The client as people use it: the SDK's default retries (two)."""
    return client.with_options(max_retries=openai.DEFAULT_MAX_RETRIES)


def _ask(client, text="Summarise the report.", **kwargs):
    return client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": text}],
        extra_headers=INTERNAL,
        **kwargs,
    )


def _asked_once(fake):
    assert len(fake.requests) == 1
    assert Conversation.objects.count() == 1
    requests = AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_REQUEST)
    failures = AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_FAILURE)
    assert (requests.count(), failures.count()) == (1, 1)
    assert Message.objects.get(role=Message.Role.ASSISTANT).status == Message.Status.FAILED


def test_a_request_too_long_for_the_backend_is_400_with_its_code_and_asked_once(
    org, openai_on_either, monkeypatch
):
    """LangChain knows ``context_length_exceeded``; a 502 was retried twice by the client."""
    error = {
        "message": TOO_LONG,
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }
    _refusing(org.external, monkeypatch, 400, error)
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(_retrying(openai_on_either(org.alice)))
    assert refused.value.code == "context_length_exceeded"
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert "Your message is too long for OpenAI business API" in refused.value.message
    # The vendor's own words too: its limit (they went out of the trail, not the answer).
    assert f"(OpenAI business API answered HTTP 400: {TOO_LONG})" in refused.value.message
    assert "may be sent again" not in refused.value.message  # it would fail the same way
    _asked_once(org.external)


def test_the_vendors_words_stay_out_of_the_audit_trail(org, openai_for, monkeypatch):
    """They may quote the question; the code and the kind are kept."""
    error = {"message": "Your prompt is too long", "code": "context_length_exceeded"}
    _refusing(org.external, monkeypatch, 400, error)
    with pytest.raises(openai.BadRequestError):
        _ask(openai_for(org.alice))
    fields = ("message", "details", "before", "after", "target_repr")
    trail = json.dumps(list(AuditEvent.objects.values(*fields)))
    assert "prompt is too long" not in trail


def test_a_backend_error_is_502_asked_once_and_says_it_may_be_sent_again(org, openai_on_either):
    org.external.fail = 500
    with pytest.raises(openai.InternalServerError) as failed:
        _ask(_retrying(openai_on_either(org.alice)))
    assert failed.value.status_code == 502
    assert failed.value.body["type"] == "backend_error"
    assert failed.value.response.headers["x-should-retry"] == "false"
    assert failed.value.message.endswith(
        "the model crashed. Steward did not retry it: the request may be sent again."
    )
    _asked_once(org.external)


def test_a_backend_rate_limit_is_429_with_its_retry_after_and_asked_once(
    org, openai_on_either, monkeypatch
):
    error = {"message": "Rate limit reached for gpt-4o-mini", "type": "requests", "code": None}
    _refusing(org.external, monkeypatch, 429, error, headers={"Retry-After": "7"})
    with pytest.raises(openai.RateLimitError) as limited:
        _ask(_retrying(openai_on_either(org.alice)))
    response = limited.value.response
    assert (response.headers["Retry-After"], response.headers["x-should-retry"]) == ("7", "false")
    assert limited.value.code == "rate_limit_exceeded"
    assert "may be sent again after 7 seconds" in limited.value.message
    _asked_once(org.external)


def test_a_backend_quota_keeps_its_own_code(org, openai_for, monkeypatch):
    error = {"message": "You exceeded your current quota.", "code": "insufficient_quota"}
    _refusing(org.external, monkeypatch, 429, error)
    with pytest.raises(openai.RateLimitError) as limited:
        _ask(openai_for(org.alice))
    assert limited.value.code == "insufficient_quota"
    assert "Retry-After" not in limited.value.response.headers


def test_a_backend_that_refuses_stewards_key_is_502_not_the_clients_fault(org, openai_for):
    """The backend's 401 is about Steward's setup: not a 400, and no use sending it again."""
    org.external.fail = 401
    with pytest.raises(openai.InternalServerError) as failed:
        _ask(_retrying(openai_for(org.alice)))
    assert (failed.value.status_code, failed.value.code) == (502, "auth")
    assert "may be sent again" not in failed.value.message
    assert failed.value.response.headers["x-should-retry"] == "false"
    assert len(org.external.requests) == 1


def test_a_code_that_is_not_a_code_is_not_repeated(org, openai_for, monkeypatch):
    """A server may put anything in ``code``; only an identifier goes on to the client."""
    _refusing(org.external, monkeypatch, 400, {"message": "no", "code": "Summarise the report."})
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(openai_for(org.alice))
    assert refused.value.code == "http"


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
def test_a_streamed_failure_carries_the_vendors_code_too(org, openai_on_either, monkeypatch):
    error = {"message": TOO_LONG, "code": "context_length_exceeded"}
    _refusing(org.external, monkeypatch, 400, error)
    stream = _ask(openai_on_either(org.alice), stream=True)
    with pytest.raises(openai.APIError) as failed:
        list(stream)
    assert failed.value.body["code"] == "context_length_exceeded"


def test_the_responses_api_answers_a_backend_refusal_alike(org, openai_for, monkeypatch):
    error = {"message": TOO_LONG, "code": "context_length_exceeded"}
    _refusing(org.external, monkeypatch, 400, error)
    with pytest.raises(openai.BadRequestError) as refused:
        _retrying(openai_for(org.alice)).responses.create(
            model="auto", input="Summarise the report.", extra_headers=INTERNAL
        )
    assert refused.value.code == "context_length_exceeded"
    assert len(org.external.requests) == 1
