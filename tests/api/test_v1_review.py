"""/v1 as a developer meets it: what a refused request leaves in the audit trail, what a
blocked one tells the client, JSON that is not JSON; and the token page's confirmations."""

import json

import httpx
import openai
import pytest

from api import services
from api.models import ApiToken
from audit.models import AuditEvent
from chat.models import Message
from governance.models import DetectionRule

EMAIL = "jane.roe@example.org"
INTERNAL = {"X-Steward-Category": "internal"}
ASK = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}


def _post(live_server, secret, body, *, path="/v1/chat/completions", headers=None):
    return httpx.post(
        f"{live_server.url}{path}",
        content=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            **(headers or {}),
        },
    )


@pytest.mark.parametrize(
    "body, headers, status, code",
    [
        (b"{not json", {}, 400, "invalid_json"),
        ({**ASK, "model": EMAIL}, {}, 404, "model_not_found"),
        (ASK, {"X-Steward-Category": EMAIL}, 404, "unknown_category"),
        ({**ASK, "stop": [EMAIL]}, INTERNAL, 400, "invalid_value"),
        ({**ASK, "tools": [{"type": "function", "function": {"name": "f"}}]}, {}, 400,
         "unsupported_parameter"),
    ],
)  # fmt: skip
def test_a_request_refused_for_what_it_asks_is_recorded_against_its_token(
    org, live_server, token_for, body, headers, status, code
):
    """Every use of a token is audited (as /v1/models and the REST API do): a request
    refused for its body is one too, recorded by its error code, never by what it held."""
    token, secret = token_for(org.alice)
    response = _post(live_server, secret, body, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_REQUEST)
    assert event.actor == org.alice and event.target_id == str(token.public_id)
    assert event.details["error"] == code and event.details["status"] == status
    assert event.details["path"] == "/v1/chat/completions"
    assert EMAIL not in json.dumps([event.details, event.message, event.target_repr])
    assert org.external.requests == [] and org.local.requests == []


def test_a_refused_request_is_not_recorded_as_a_success(org, live_server, token_for):
    """An auditor filtering on the outcome saw a refused request as a green "success": one
    refused for its permissions is blocked, one refused for what it asks failed."""
    _, secret = token_for(org.alice)
    _post(live_server, secret, ASK, headers={"X-Steward-Category": "3"})
    _post(live_server, secret, b"{not json")
    httpx.get(f"{live_server.url}/v1/models", headers={"Authorization": f"Bearer {secret}"})
    events = AuditEvent.objects.filter(action=AuditEvent.Action.API_REQUEST).order_by("sequence")
    assert [(e.details.get("error") or e.details.get("refused", "")[:15], e.outcome)
            for e in events] == [
        ("You are not cle", AuditEvent.Outcome.BLOCKED),
        ("invalid_json", AuditEvent.Outcome.FAILURE),
        ("", AuditEvent.Outcome.SUCCESS),
    ]  # fmt: skip


def test_a_rest_request_refused_for_two_factor_is_recorded_as_blocked(admin, token_for, settings):
    from rest_framework.test import APIClient

    settings.STEWARD_REQUIRE_MFA = True
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin)[1]}")
    assert client.get("/api/governance/categories/").status_code == 403
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_REQUEST)
    assert event.outcome == AuditEvent.Outcome.BLOCKED


def test_the_responses_api_records_a_refused_request_too(org, live_server, token_for):
    _, secret = token_for(org.alice)
    response = _post(live_server, secret, {"model": "auto", "input": []}, path="/v1/responses")
    assert response.status_code == 400
    event = AuditEvent.objects.get(action=AuditEvent.Action.API_REQUEST)
    assert (event.details["error"], event.details["path"]) == ("invalid_input", "/v1/responses")


def test_a_request_refused_before_its_body_is_recorded_once(org, live_server, token_for):
    """Not cleared for the category named: one event (the refusal's own), not two."""
    _, secret = token_for(org.alice)
    response = _post(live_server, secret, ASK, headers={"X-Steward-Category": "3"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_REQUEST).count() == 1


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/responses", b'{"model": "auto", "input": "Hi", "metadata": {"a": NaN}}'),
        ("/v1/chat/completions",
         b'{"model": "auto", "messages": [{"role": "user", "content": "Hi"}], '
         b'"metadata": {"x": Infinity}}'),
    ],
)  # fmt: skip
def test_nan_or_infinity_is_not_json_and_is_400(org, live_server, token_for, path, body):
    """Python's json takes them; no JSON parser must. The Responses API echoed the metadata
    back as ``NaN``, a body other clients (JavaScript's JSON.parse) cannot read."""
    _, secret = token_for(org.alice)
    response = _post(live_server, secret, body, path=path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert "is not a JSON number" in response.json()["error"]["message"]
    assert org.external.requests == [] and org.local.requests == []
    assert not Message.objects.exists()


def test_a_blocked_request_says_so_in_the_headers_too(org, live_server, token_for):
    """A client reads X-Steward-Decision and the category on every decided request: a
    blocked one as well, not only those that were answered."""
    DetectionRule.objects.create(
        name="Privilege", reason="Legal advice stays here", pattern="privileged", action="block"
    )
    _, secret = token_for(org.alice)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=secret, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as blocked:
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "This memo is privileged."}],
            extra_headers=INTERNAL,
        )
    headers = blocked.value.response.headers
    assert headers["X-Steward-Decision"] == "blocked"
    assert (headers["X-Steward-Category"], headers["X-Steward-Category-Slug"]) == ("2", "internal")
    assert org.external.requests == [] and org.local.requests == []


def test_revoking_with_htmx_shows_its_confirmation_in_the_panel(client, member):
    """The panel swapped in held no message: "revoked" appeared later, on whatever page
    the user opened next."""
    token, _ = services.create_token(user=member, name="notebook", expires_in_days=None,
                                     actor=member)  # fmt: skip
    client.force_login(member)
    response = client.post(f"/settings/tokens/{token.public_id}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "<html" not in response.content.decode()
    # Two tokens may share a name: the flash names which one by its first characters.
    assert f"“notebook” ({token.lookup}…) revoked" in response.content.decode()
    assert "revoked: it no longer works" not in client.get("/settings/tokens/").content.decode()
    assert ApiToken.objects.get(pk=token.pk).status == "revoked"


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
def test_a_length_limit_no_backend_takes_is_400_and_sends_nothing(org, openai_for, name):
    """A number past 32 bits went to the backend, to be refused there: a 502 far from the cause."""
    client = openai_for(org.alice)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "Hello"}],
            extra_headers=INTERNAL,
            extra_body={name: 2**40},
        )
    assert (refused.value.body["code"], refused.value.body["param"]) == ("invalid_value", name)
    assert org.external.requests == [] and not Message.objects.exists()


def test_the_responses_api_bounds_its_length_limit_too(org, live_server, token_for):
    _, secret = token_for(org.alice)
    body = {"model": "auto", "input": "Hi", "max_output_tokens": 2**40}
    response = _post(live_server, secret, body, path="/v1/responses")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_output_tokens"


@pytest.mark.parametrize(
    "message, says",
    [
        ({"role": "user"}, "has no content"),
        ({"role": "user", "content": None}, "has no content"),
        ({"role": "assistant", "content": None,
          "tool_calls": [{"id": "1", "type": "function",
                          "function": {"name": "f", "arguments": "{}"}}]},
         "Tool calls are not supported"),
    ],
)  # fmt: skip
def test_a_message_without_text_says_what_is_missing(org, live_server, token_for, message, says):
    """Not "Only text content is supported" for a message that has no content at all, or
    for an earlier tool call sent back."""
    _, secret = token_for(org.alice)
    body = {"model": "auto", "messages": [{"role": "user", "content": "Hi"}, message]}
    response = _post(live_server, secret, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert says in error["message"] and error["param"] == "messages"
    assert org.external.requests == [] and org.local.requests == []


@pytest.mark.parametrize(
    "extra, says",
    [
        ({"stream_options": {"include_usage": True}}, "only when 'stream' is true"),
        ({"stream": False, "stream_options": {"include_usage": True}}, "only when 'stream'"),
        ({"stream": True, "stream_options": "usage"}, "must be an object"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
def test_stream_options_without_a_stream_is_400_as_openai_says(
    org, live_server, token_for, extra, says, path
):
    """OpenAI refuses ``stream_options`` unless the answer streams; Steward ignored it."""
    _, secret = token_for(org.alice)
    body = {**ASK, **extra} if path.endswith("completions") else {
        "model": "auto", "input": "Hello", **extra}  # fmt: skip
    response = _post(live_server, secret, body, path=path, headers=INTERNAL)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "stream_options")
    assert says in error["message"]
    assert org.external.requests == [] and org.local.requests == []


def test_the_model_list_answers_head_as_get(org, live_server, token_for):
    _, secret = token_for(org.alice)
    auth = {"Authorization": f"Bearer {secret}"}
    assert httpx.head(f"{live_server.url}/v1/models", headers=auth).status_code == 200
    refused = httpx.post(f"{live_server.url}/v1/models", headers=auth)
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET, HEAD"


def test_empty_instructions_send_no_empty_system_message(org, openai_for):
    """An empty ``instructions`` reached the backend as an empty system turn."""
    client = openai_for(org.alice)
    client.responses.create(
        model="auto", input="Hello", instructions="  ",
        extra_headers={"X-Steward-Category": "internal"},
    )  # fmt: skip
    messages = org.external.last.body["messages"]
    assert [m for m in messages if m["role"] == "system" and not m["content"].strip()] == []


def test_revoking_says_what_happens_to_an_answer_already_streaming(client, member):
    services.create_token(user=member, name="notebook", expires_in_days=None, actor=member)
    client.force_login(member)
    page = client.get("/settings/tokens/").content.decode()
    assert "an answer already streaming to it finishes" in page
    assert "stops working at once" not in page
