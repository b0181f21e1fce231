"""/v1 through the official ``openai`` client, against the live server and fake backends."""

import json
import threading
import time

import httpx
import openai
import pytest

from api import ratelimit
from api.models import ApiToken
from audit.models import AuditEvent
from chat import services, streams
from chat.models import Conversation, Message
from governance.models import Approval, Clearance, DetectionRule, HostingClass
from governance.roles import Role

EMAIL = "jane.roe@example.org"
PHONE = "+44 20 7946 0958"
INTERNAL = {"X-Steward-Category": "internal"}


def _received(fake) -> str:
    """Everything a fake backend was sent, as one string."""
    return json.dumps([r.body for r in fake.requests], ensure_ascii=False)


def _ask(client, text, *, model="auto", headers=None, **kwargs):
    return client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        extra_headers=headers or {},
        **kwargs,
    )


def test_it_lists_the_models_the_user_may_use(org, openai_for):
    models = {m.id: m for m in openai_for(org.alice).models.list()}
    assert set(models) == {"auto", "local-ollama", "openai-business-api"}
    assert models["openai-business-api"].steward["categories"] == [1, 2]
    carol = {m.id: m for m in openai_for(org.carol).models.list()}
    assert carol["local-ollama"].steward["categories"] == [1, 2, 3]


def test_it_gives_one_model_by_its_id(org, openai_for):
    client = openai_for(org.alice)
    listed = {m.id: m for m in client.models.list().data}
    assert client.models.retrieve("auto").model_dump() == listed["auto"].model_dump()
    with pytest.raises(openai.NotFoundError) as unknown:
        client.models.retrieve("gpt-9")
    assert unknown.value.body["code"] == "model_not_found"


def test_a_path_steward_does_not_serve_is_an_openai_404(org, openai_for):
    """An OpenAI client calling embeddings reads why from the body, not a page of HTML."""
    with pytest.raises(openai.NotFoundError) as missing:
        openai_for(org.alice).embeddings.create(model="auto", input="Hello")
    assert missing.value.body["code"] == "unknown_url"
    assert "POST /v1/embeddings" in missing.value.body["message"]
    assert "POST /v1/chat/completions" in missing.value.body["message"]


def test_it_answers_with_only_placeholders_sent_to_an_external_backend(org, openai_on_either):
    raw = _ask(openai_on_either(org.alice), f"Write to {EMAIL} and call {PHONE}.", headers=INTERNAL)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the API."
    assert completion.model == "openai-business-api"
    assert completion.usage.total_tokens == 16
    assert raw.headers["X-Steward-Decision"] == "pseudonymised"
    assert raw.headers["X-Steward-Category"] == "2"
    assert raw.headers["X-Steward-Category-Slug"] == "internal"
    received = _received(org.external)
    assert EMAIL not in received and "7946" not in received
    assert "[EMAIL_1]" in received and "[PHONE_1]" in received
    assert org.local.requests == []


# live_server is WSGI: Django buffers an async stream there, and says so (the ASGI tests below
# show the chunks arriving as they come).
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
def test_it_streams_and_puts_the_real_values_back(org, openai_on_either):
    org.external.reply = ["I will write to ", "[EMAIL", "_1] and ", "[PHONE_1]", " today."]
    stream = openai_on_either(org.alice).chat.completions.create(
        model="openai-business-api",
        messages=[{"role": "user", "content": f"Reply to {EMAIL}, or call {PHONE}."}],
        metadata={"category": "2"},
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"I will write to {EMAIL} and {PHONE} today."
    assert chunks[-1].usage.completion_tokens == 4
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert EMAIL not in _received(org.external)


def test_it_keeps_the_conversation_like_chat_does(org, openai_for, token_for):
    _ask(openai_for(org.alice), f"Summarise the mail from {EMAIL}.", headers=INTERNAL)
    conversation = Conversation.objects.get(owner=org.alice)
    assert conversation.category == org.internal
    question, answer = conversation.messages.order_by("created_at", "id")
    assert question.content == f"Summarise the mail from {EMAIL}."
    assert answer.status == Message.Status.DONE and answer.content == "Hello from the API."
    request = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_REQUEST)
    token = ApiToken.objects.get(user=org.alice)
    assert request.details["via"] == "api" and request.details["token"] == token.lookup
    assert EMAIL not in json.dumps(request.details)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_RESPONSE).count() == 1


def test_it_sends_every_part_of_the_request_with_one_placeholder_per_value(org, openai_for):
    openai_for(org.alice).chat.completions.create(
        model="auto",
        messages=[
            {"role": "system", "content": f"You help {EMAIL}."},
            {"role": "user", "content": f"Who is {EMAIL}?"},
            {"role": "assistant", "content": "A customer."},
            {"role": "user", "content": [{"type": "text", "text": "Write to them."}]},
        ],
        extra_headers=INTERNAL,
    )
    sent = org.external.last.body["messages"]
    assert [m["role"] for m in sent] == ["system", "system", "user", "assistant", "user"]
    assert sent[1]["content"] == "You help [EMAIL_1]." and sent[2]["content"] == "Who is [EMAIL_1]?"


def test_sampling_parameters_reach_the_backend_and_stay_with_the_answer(org, openai_on_either):
    client = openai_on_either(org.alice)
    asked = {"temperature": 0.2, "top_p": 0.5, "max_tokens": 50, "seed": 42,
             "frequency_penalty": 0.5, "presence_penalty": -1.0}  # fmt: skip
    _ask(client, "Hello", headers=INTERNAL, **asked)
    body = org.external.last.body
    assert {name: body[name] for name in asked} == asked
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.sampling == asked  # a worker that takes it over asks the same
    # The newer name counts the same; the backend is given its own.
    _ask(client, "Hello", headers=INTERNAL, max_completion_tokens=7)
    assert org.external.last.body["max_tokens"] == 7


def test_stop_sequences_reach_the_backend_and_stay_with_the_answer(org, openai_on_either):
    client = openai_on_either(org.alice)
    _ask(client, "Hello", headers=INTERNAL, stop=["\nObservation:", "Human:"])
    assert org.external.last.body["stop"] == ["\nObservation:", "Human:"]
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.sampling == {"stop": ["\nObservation:", "Human:"]}
    _ask(client, "Hello", headers=INTERNAL, stop="END")  # one string is one sequence
    assert org.external.last.body["stop"] == ["END"]


@pytest.mark.parametrize(
    "stop, named",
    [([EMAIL], "email address"), (f"Call {PHONE}", "phone number"),
     (["ok", "sk-live-4eC39HqLyjWDarjtT1zdp7dc"], "secret")],
)  # fmt: skip
def test_a_stop_sequence_holding_what_the_scanner_finds_is_400_and_sends_nothing(
    org, openai_for, stop, named
):
    """The backend would be given it as it is: placeholders are for the messages."""
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(openai_for(org.alice), f"Hello {EMAIL}", headers=INTERNAL, stop=stop)
    assert (refused.value.body["code"], refused.value.body["param"]) == ("invalid_value", "stop")
    assert named in refused.value.body["message"]
    assert EMAIL not in refused.value.body["message"]
    assert org.external.requests == [] and not Message.objects.exists()


@pytest.mark.parametrize(
    "name, value",
    [("temperature", 2.5), ("temperature", True), ("top_p", -0.1), ("max_tokens", 0),
     ("max_completion_tokens", "many"), ("max_tokens", 1.5), ("stop", 5), ("stop", ""),
     ("stop", ["a", "b", "c", "d", "e"]), ("stop", ["x" * 201]), ("stop", []),
     ("seed", 1.5), ("seed", True), ("seed", 2**63), ("frequency_penalty", 2.5),
     ("presence_penalty", "-1")],
)  # fmt: skip
def test_a_sampling_parameter_out_of_range_is_400_and_sends_nothing(org, openai_for, name, value):
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(openai_for(org.alice), "Hello", headers=INTERNAL, extra_body={name: value})
    assert refused.value.body["code"] == "invalid_value"
    assert f"'{name}'" in refused.value.body["message"]
    assert org.external.requests == [] and not Message.objects.exists()


@pytest.mark.parametrize(
    "name, value",
    [("n", 2), ("tools", [{"type": "function", "function": {"name": "lookup"}}]),
     ("functions", [{"name": "lookup"}]), ("tool_choice", "required"),
     ("tool_choice", {"type": "function", "function": {"name": "lookup"}}),
     ("function_call", {"name": "lookup"}), ("response_format", {"type": "json_object"}),
     ("response_format", {"type": "json_schema", "json_schema": {"name": "x"}}),
     ("logprobs", True), ("top_logprobs", 3), ("modalities", ["text", "audio"]),
     ("audio", {"voice": "alloy", "format": "wav"})],
)  # fmt: skip
def test_asking_for_an_answer_steward_cannot_give_is_400_naming_the_parameter(
    org, openai_for, name, value
):
    """Quietly given one plain answer instead, the client would fail later, far from the cause."""
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(openai_for(org.alice), "Hello", headers=INTERNAL, extra_body={name: value})
    error = refused.value.body
    assert (error["code"], error["param"], error["type"]) == (
        "unsupported_parameter", name, "invalid_request_error",
    )  # fmt: skip
    assert error["message"]
    assert org.external.requests == [] and not Message.objects.exists()


def test_the_harmless_values_of_those_parameters_are_accepted(org, openai_for):
    reply = _ask(
        openai_for(org.alice),
        "Hello",
        headers=INTERNAL,
        n=1,
        tools=[],
        tool_choice="none",
        response_format={"type": "text"},
        logprobs=False,
        modalities=["text"],
    ).parse()
    assert reply.choices[0].message.content
    assert len(org.external.requests) == 1


def test_a_bad_value_names_its_parameter(org, openai_for):
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(openai_for(org.alice), "Hello", headers=INTERNAL, temperature=3)
    assert refused.value.body["param"] == "temperature"


def test_category_3_reaches_only_the_on_premise_backend(org, openai_on_either):
    client = openai_on_either(org.carol)
    raw = _ask(client, f"Draft a reply to {EMAIL}.", headers={"X-Steward-Category": "3"})
    assert raw.headers["X-Steward-Category"] == "3"
    assert raw.parse().choices[0].message.content == "Hello from the local model."
    assert EMAIL in _received(org.local)  # allowed in 3, on our own hardware
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(
            client,
            "Draft it again.",
            model="openai-business-api",
            headers={"X-Steward-Category": "3"},
        )
    assert refused.value.body["type"] == "policy_violation"
    assert "may not receive category 3" in refused.value.body["message"]
    assert org.external.requests == []


def test_a_blocked_request_never_leaves_and_names_its_reasons(org, openai_for):
    DetectionRule.objects.create(
        name="Privilege", reason="Legal advice stays here", pattern="privileged", action="block"
    )
    with pytest.raises(openai.PermissionDeniedError) as blocked:
        _ask(openai_for(org.alice), "This memo is privileged.", headers=INTERNAL)
    assert blocked.value.status_code == 403
    assert blocked.value.body["type"] == "policy_violation"
    assert blocked.value.body["code"] == "blocked"
    assert "Legal advice stays here" in blocked.value.body["message"]
    assert org.external.requests == [] and org.local.requests == []
    event = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_REQUEST)
    assert event.outcome == AuditEvent.Outcome.BLOCKED


def test_the_prohibited_category_is_refused_and_recorded(org, openai_for):
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(openai_for(org.carol), "Anything.", headers={"X-Steward-Category": "prohibited"})
    assert refused.value.body["type"] == "policy_violation"
    assert org.external.requests == [] and org.local.requests == []
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_REQUEST)
    assert event.actor == org.carol and event.details["category_number"] == 4


def test_an_uncleared_category_is_refused(org, openai_for):
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(openai_for(org.alice), "Hello", headers={"X-Steward-Category": "confidential"})
    assert "not cleared" in refused.value.body["message"]
    assert org.local.requests == []


def test_a_category_header_in_utf_8_is_read_as_written(org, live_server, token_for):
    """Headers reach Django decoded as Latin-1: "é" came back as "Ã©"."""
    _, secret = token_for(org.alice)
    response = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {secret}", "X-Steward-Category": "é".encode()},
    )
    assert response.status_code == 404
    # Then the categories the user may use (tests/api/test_first_hour.py).
    assert response.json()["error"]["message"].startswith("There is no category 'é'. ")


def test_an_unknown_model_or_category_is_404(org, openai_for):
    client = openai_for(org.alice)
    with pytest.raises(openai.NotFoundError) as unknown:
        _ask(client, "Hello", model="gpt-9")
    assert unknown.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        _ask(client, "Hello", headers={"X-Steward-Category": "secret-stuff"})
    for odd in ("²", "9" * 5000):  # digits to str.isdigit(), not to int()
        with pytest.raises(openai.NotFoundError) as unknown:
            _ask(client, "Hello", metadata={"category": odd})
        assert unknown.value.body["code"] == "unknown_category"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b"{not json", "invalid_json", None),
        (b"[" * 100_000, "invalid_json", None),  # json raises RecursionError, not ValueError
        (b'{"model": "auto", "messages": []}', "invalid_messages", "messages"),
        (b'{"model": "auto", "messages": [{"role": "tool", "content": "x"}]}', "invalid_messages",
         "messages"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "  "}]}', "empty_messages",
         "messages"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
         "invalid_content", "messages"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "missing_model", "model"),
        (b'{"model": "auto", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
         "invalid_stream", "stream"),
        # Valid JSON no database takes: an emoji cut in two, a NUL (in a stored stop sequence).
        (b'{"model": "auto", "messages": [{"role": "user", "content": "hi \\ud83d"}]}',
         "invalid_text", None),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stop": "\\u0000"}',
         "invalid_text", None),
        (b'{"model": "auto", "n": true, "messages": [{"role": "user", "content": "x"}]}',
         "unsupported_parameter", "n"),
        # A role no dict may be keyed by: it was a 500, recorded nowhere.
        (b'{"model": "auto", "messages": [{"role": ["user"], "content": "x"}]}',
         "invalid_messages", "messages"),
        (b'{"model": "auto", "messages": [{"role": {"a": 1}, "content": "x"}]}',
         "invalid_messages", "messages"),
        # Over the limit as the chat counts it (the parts joined): it was a 403 "blocked".
        (b'{"model": "auto", "messages": [{"role": "system", "content": "' + b"s" * 16_000
         + b'"}, {"role": "user", "content": "' + b"u" * 16_000 + b'"}]}',
         "context_length_exceeded", "messages"),
    ],
)  # fmt: skip
def test_a_bad_request_is_400_and_sends_nothing(org, live_server, token_for, body, code, param):
    _, secret = token_for(org.alice)
    response = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == param
    assert org.external.requests == [] and org.local.requests == []


def test_the_responses_api_refuses_a_role_that_is_not_a_word(org, live_server, token_for):
    _, secret = token_for(org.alice)
    response = httpx.post(
        f"{live_server.url}/v1/responses",
        content=b'{"model": "auto", "input": [{"role": ["user"], "content": "hi"}]}',
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_input")


def test_the_responses_api_refuses_half_a_character_too(org, live_server, token_for):
    _, secret = token_for(org.alice)
    response = httpx.post(
        f"{live_server.url}/v1/responses",
        content=b'{"model": "auto", "input": "hi \\ud83d"}',
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_text")


def test_a_model_id_holding_a_nul_is_404_and_its_use_recorded(org, live_server, token_for):
    _, secret = token_for(org.alice)
    response = httpx.get(
        f"{live_server.url}/v1/models/%00", headers={"Authorization": f"Bearer {secret}"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "model_not_found")
    assert AuditEvent.objects.filter(action="api.request", details__path="/v1/models/").exists()


def test_an_unexpected_failure_answers_in_openais_shape(org, openai_for, monkeypatch):
    """Not a page of HTML: the client's error names a server error."""

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "send_request", broken)
    with pytest.raises(openai.InternalServerError) as failed:
        _ask(openai_for(org.alice), "Hello")
    assert failed.value.body["type"] == "server_error"
    assert org.external.requests == [] and org.local.requests == []


def test_a_body_too_large_is_413_in_openais_shape(org, openai_for, settings):
    text = "a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    with pytest.raises(openai.APIStatusError) as refused:
        _ask(openai_for(org.alice), text)
    assert refused.value.status_code == 413
    assert refused.value.body["code"] == "request_too_large"
    assert org.external.requests == [] and org.local.requests == []


@pytest.mark.parametrize("state", ["expired", "revoked", "unknown", "missing"])
def test_a_token_that_is_not_valid_is_refused(org, live_server, token_for, state):
    token, secret = token_for(org.alice, expires_in_days=1)
    if state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=token.created_at)
    elif state == "revoked":
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=token.created_at)
    elif state == "unknown":
        secret = secret[:-4] + "abcd"
    headers = {"Authorization": f"Bearer {secret}"} if state != "missing" else {}
    response = httpx.post(
        f"{live_server.url}/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "Hello"}]},
        headers=headers,
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert org.external.requests == [] and org.local.requests == []
    refusals = AuditEvent.objects.filter(action=AuditEvent.Action.API_TOKEN_REFUSED)
    assert refusals.count() == (1 if state in ("expired", "revoked") else 0)


def test_a_person_past_the_rate_limit_gets_429_with_retry_after(org, openai_for, settings):
    """Counted per person: a second token is not a second allowance."""
    settings.STEWARD_API_REQUESTS_PER_MINUTE = 2
    # No count left by users of an earlier run who had the same ids (a test database
    # starts its ids afresh; Redis keeps the counts for the minute).
    redis = streams.client()
    for person in (org.alice, org.carol):
        for key in redis.scan_iter(f"steward:ratelimit:user:{person.pk}:*"):
            redis.delete(key)
    client, second_token = openai_for(org.alice), openai_for(org.alice)
    carol = openai_for(org.carol)
    # The limit counts per minute of the clock: these requests must fall in the same one.
    while time.time() % ratelimit.WINDOW_SECONDS > ratelimit.WINDOW_SECONDS - 10:
        time.sleep(0.5)
    client.models.list()
    client.models.list()
    for limited_client in (client, second_token):
        with pytest.raises(openai.RateLimitError) as limited:
            limited_client.models.list()
        assert 1 <= int(limited.value.response.headers["Retry-After"]) <= 60
    assert carol.models.list().data


def test_a_backend_failure_is_502_and_recorded(org, openai_on_either):
    org.external.fail = 500
    with pytest.raises(openai.InternalServerError) as failed:
        _ask(openai_on_either(org.alice), "Hello", headers=INTERNAL)
    assert failed.value.status_code == 502
    assert failed.value.body["type"] == "backend_error"
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.FAILED
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_FAILURE).count() == 1


# --- on the ASGI server (live_server is WSGI, where Django buffers a streamed answer) ---


def _stream_on(asgi_server, secret, **kwargs):
    client = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=secret, max_retries=0)
    return client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Tell me a story."}],
        extra_headers=INTERNAL,
        stream=True,
        **kwargs,
    )


def test_an_answer_cut_at_the_length_limit_says_length_whole_and_streamed(org, openai_on_either):
    org.external.finish = "length"
    client = openai_on_either(org.alice)
    whole = _ask(client, "Hello", headers=INTERNAL, max_tokens=3).parse()
    assert whole.choices[0].finish_reason == "length"
    chunks = list(_ask(client, "Hello", headers=INTERNAL, max_tokens=3, stream=True).parse())
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    answers = Message.objects.filter(role=Message.Role.ASSISTANT)
    assert {a.finish_reason for a in answers} == {"length"}


def test_the_answer_streams_as_the_backend_writes_it(org, asgi_server, token_for):
    org.external.delay = 0.3
    _, secret = token_for(org.alice)
    stream = _stream_on(asgi_server, secret)
    first = next(c for c in stream if c.choices and c.choices[0].delta.content)
    assert first.choices[0].delta.content == "Hello "
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.STREAMING  # still on its way
    rest = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert rest == "from the API."
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE


def test_a_silent_backend_keeps_the_stream_alive_with_comments(
    org, asgi_server, token_for, monkeypatch
):
    """Proxies and load balancers close a connection idle for about a minute: a reasoning
    model thinking before its first words (or a built-in answer waiting for the model)
    would lose its stream. A comment goes out after each silence; clients skip it."""
    from api.v1 import governed

    monkeypatch.setattr(governed, "KEEP_ALIVE_SECONDS", 0.2)
    org.external.reply = ["", "", "", "Hello", " there."]
    org.external.delay = 0.3
    _, secret = token_for(org.alice)
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"Authorization": f"Bearer {secret}", **INTERNAL}
    url = f"{asgi_server}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines.count(": keep-alive") >= 2
    chunks = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello there." and lines[-1] == "data: [DONE]"
    stream = _stream_on(asgi_server, secret)  # the official client, comments and all
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
        "Hello there."
    )


def test_under_asgi_an_openai_compatible_backend_is_called_on_the_event_loop(
    org, asgi_server, token_for, monkeypatch
):
    from chat import answering

    called_in = []
    on_the_loop = answering.astream_answer

    async def spy(*args, **kwargs):
        called_in.append(threading.current_thread().name)
        return await on_the_loop(*args, **kwargs)

    def in_a_thread(*args, **kwargs):
        raise AssertionError("called from a thread")

    monkeypatch.setattr("chat.answering.astream_answer", spy)
    monkeypatch.setattr("chat.answering.stream_answer", in_a_thread)
    _, secret = token_for(org.alice)
    stream = _stream_on(asgi_server, secret)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
        "Hello from the API."
    )
    assert called_in == ["asgi-server"]  # the server's own thread: its event loop
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert (answer.status, answer.content) == (Message.Status.DONE, "Hello from the API.")


def test_every_kind_answers_the_api_under_asgi(org, fake, backend_for, asgi_server, token_for):
    """On the loop (the kinds with an async client) or from a thread (the others), the same."""
    backend = backend_for(fake, hosting_class=HostingClass.PRIVATE_CLOUD, dpa_signed=True)
    Approval.objects.create(category=org.internal, backend=backend, preference=0)
    _, secret = token_for(org.alice)
    client = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=secret, max_retries=0)
    stream = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": f"Write to {EMAIL}."}],
        extra_headers=INTERNAL,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello, world!"
    )
    assert chunks[-1].usage.total_tokens == 16
    received = json.dumps([r.body for r in fake.requests])
    assert "[EMAIL_1]" in received and EMAIL not in received
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert (answer.status, answer.backend_name) == (Message.Status.DONE, backend.name)


def _settled_answer(*, seconds: float) -> Message:
    """The answer, once it is no longer streaming (or after ``seconds``)."""
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    deadline = time.monotonic() + seconds
    while answer.status == Message.Status.STREAMING and time.monotonic() < deadline:
        time.sleep(0.05)
        answer.refresh_from_db()
    return answer


@pytest.mark.parametrize("looks", ["every 0.2 s", "none meanwhile"])
def test_a_client_that_hangs_up_stops_the_answer(org, asgi_server, token_for, monkeypatch, looks):
    """Through the stop flag in Redis, or, in the process that streams it, at once: the
    relay sets the answer's cancel event (with no look at the flag due for 30 s, and no
    heartbeat to read it)."""
    if looks == "none meanwhile":
        from chat.answering import liveness, production

        quiet = liveness._Heartbeats()
        quiet._running = True  # no thread: no beat
        monkeypatch.setattr(liveness, "_heartbeats", quiet)
        monkeypatch.setattr(production, "CANCEL_POLL_SECONDS", 30)
    org.external.reply = ["word "] * 50
    org.external.delay = 0.1
    _, secret = token_for(org.alice)
    stream = _stream_on(asgi_server, secret)
    next(c for c in stream if c.choices and c.choices[0].delta.content)
    stream.close()
    answer = _settled_answer(seconds=5)
    assert answer.status == Message.Status.CANCELLED
    assert 0 < answer.content.count("word") < 50
    response = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_RESPONSE)
    assert response.details["cancelled"] is True


def test_a_client_that_hangs_up_while_the_backend_says_nothing_stops_the_answer_at_once(
    org, asgi_server, token_for
):
    """The backend has sent nothing (a model loading, or thinking): the answer is stored as
    stopped as soon as the client goes, not when the backend speaks or the read times out."""
    org.external.fail = "hang"
    _, secret = token_for(org.alice)
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"Authorization": f"Bearer {secret}", **INTERNAL}
    with httpx.stream(
        "POST", f"{asgi_server}/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")  # the opening, then silence
        deadline = time.monotonic() + 10
        while not org.external.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert org.external.requests
    answer = _settled_answer(seconds=3)
    assert (answer.status, answer.content) == (Message.Status.CANCELLED, "")


def test_a_policy_to_acknowledge_first_is_a_clear_403(org, openai_for, monkeypatch):
    monkeypatch.setattr("chat.services.steps.needs_acknowledgement", lambda user, version: True)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(openai_for(org.alice), "Hello")
    assert refused.value.body["code"] == "acknowledgement_required"
    assert "acknowledge" in refused.value.body["message"]
    assert org.local.requests == [] and org.external.requests == []


def test_an_answer_cut_midway_is_502_and_kept_in_the_history(org, openai_on_either):
    org.external.fail = "cut"
    with pytest.raises(openai.InternalServerError) as failed:
        _ask(openai_on_either(org.alice), "Hello", headers=INTERNAL)
    assert failed.value.body["code"] == "connection"
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.FAILED and answer.content == "Hello "


def test_a_stream_that_breaks_inside_steward_still_ends(org, openai_on_either, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("Redis went away")

    async def broken_on_the_loop(*args, **kwargs):
        broken()

    monkeypatch.setattr("chat.answering.stream_answer", broken)
    monkeypatch.setattr("chat.answering.astream_answer", broken_on_the_loop)
    with pytest.raises(openai.InternalServerError) as failed:
        _ask(openai_on_either(org.alice), "Hello", headers=INTERNAL)
    assert failed.value.body["code"] == "internal"
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.FAILED


def test_only_the_staff_role_may_chat(org, openai_for):
    from django.contrib.auth.models import Permission

    from tests.factories import make_user

    auditor = make_user("auditor@example.com", Role.AUDITOR)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _ask(openai_for(auditor), "Hello")
    assert refused.value.body["code"] == "not_staff"
    # The permission held personally (not through a role group) counts, as with has_perm.
    auditor.user_permissions.add(Permission.objects.get(codename="use_chat"))
    Clearance.objects.create(category=org.public, user=auditor)
    assert _ask(openai_for(auditor), "Hello").parse().choices[0].message.content


def test_a_category_that_keeps_no_content_answers_and_stores_no_text(org, openai_on_either):
    from governance.models import Category

    Category.objects.filter(pk=org.internal.pk).update(retention_days=None)
    org.external.reply = ["Dear ", "[EMAIL_1]", ", thanks."]
    raw = _ask(openai_on_either(org.alice), f"Write to {EMAIL}.", headers=INTERNAL)
    assert raw.parse().choices[0].message.content == f"Dear {EMAIL}, thanks."  # restored
    assert EMAIL not in _received(org.external)
    question, answer = Message.objects.order_by("created_at", "id")
    assert answer.status == Message.Status.DONE
    assert not question.content_sealed and not question.sent_sealed
    assert not answer.content_sealed
    # Nor the placeholders' values: the mapping went with the answer, not into the row.
    assert bytes(Conversation.objects.get().pseudonyms_sealed) == b""


def test_the_built_in_model_answers_in_the_worker_and_the_api_follows(
    org, openai_on_either, monkeypatch
):
    """The web process never loads the built-in model: a worker answers, /v1 relays its stream."""
    from chat import answering
    from governance.demo import BUILTIN_NAME
    from governance.models import Backend

    Backend.objects.filter(name=BUILTIN_NAME).update(enabled=True)
    followed = []
    real_follow = answering.follow

    def follow(answer, writer, **kwargs):
        followed.append(answer.pk)
        return real_follow(answer, writer, **kwargs)

    monkeypatch.setattr(answering, "follow", follow)
    raw = _ask(
        openai_on_either(org.carol),
        "Say hello in three words.",
        headers={"X-Steward-Category": "confidential"},
        max_tokens=20,
    )
    completion = raw.parse()
    answer = Message.objects.get(pk=followed[0])
    assert answer.backend_name == BUILTIN_NAME and answer.status == Message.Status.DONE
    assert completion.choices[0].message.content == answer.content and answer.content.strip()
    assert completion.usage.completion_tokens == answer.output_tokens
    assert org.local.requests == []
