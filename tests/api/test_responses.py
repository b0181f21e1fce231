"""POST /v1/responses through the official client: the chat completions' governed path, in
the Responses API's shapes (whole, streamed, and the client's own stream helper)."""

import json

import openai
import pytest

from audit.models import AuditEvent
from chat.models import Conversation, Message
from governance.models import DetectionRule

EMAIL = "jane.roe@example.org"
INTERNAL = {"X-Steward-Category": "internal"}
# live_server is WSGI: Django buffers an async stream there, and says so (each streamed test
# runs on the ASGI server too, where the events arrive as they come).
pytestmark = pytest.mark.filterwarnings(
    "ignore:StreamingHttpResponse must consume asynchronous iterators"
)


def _received(fake) -> str:
    return json.dumps([r.body for r in fake.requests])


def _respond(client, **kwargs):
    kwargs.setdefault("extra_headers", INTERNAL)
    return client.responses.with_raw_response.create(model="auto", **kwargs)


def test_it_answers_with_only_placeholders_sent_and_the_real_values_back(org, openai_on_either):
    org.external.reply = ["Wrote to ", "[EMAIL_1]", "."]
    raw = _respond(
        openai_on_either(org.alice),
        instructions="Be brief.",
        input=f"Draft a note to {EMAIL}.",
    )
    response = raw.parse()
    assert response.status == "completed"
    assert response.output_text == f"Wrote to {EMAIL}."
    assert response.model == "openai-business-api"
    assert response.instructions == "Be brief."
    assert (response.usage.input_tokens, response.usage.total_tokens) == (12, 16)
    assert raw.headers["X-Steward-Decision"] == "pseudonymised"
    sent = org.external.last.body["messages"]
    assert [m["role"] for m in sent] == ["system", "system", "user"]  # Steward's, theirs, the input
    assert sent[1:] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Draft a note to [EMAIL_1]."},
    ]
    assert EMAIL not in _received(org.external)
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert response.id == f"resp_{answer.public_id.hex}"
    assert answer.status == Message.Status.DONE


def test_it_streams_the_responses_events_with_the_real_values_back(org, openai_on_either):
    org.external.reply = ["Wrote ", "to [EMA", "IL_1]", "."]
    stream = _respond(openai_on_either(org.alice), input=f"Write to {EMAIL}.", stream=True).parse()
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == f"Wrote to {EMAIL}."
    assert events[-1].response.output_text == deltas
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert EMAIL not in _received(org.external)


def test_the_clients_stream_helper_gets_the_final_response(org, openai_on_either):
    client = openai_on_either(org.alice)
    with client.responses.stream(model="auto", input="Hello", extra_headers=INTERNAL) as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(texts) == final.output_text == "Hello from the API."
    assert final.usage.output_tokens == 4


def test_an_input_of_messages_keeps_its_turns(org, openai_on_either):
    _respond(
        openai_on_either(org.alice),
        input=[
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Bonjour", "annotations": []}],
            },
            {"role": "user", "content": "And goodbye?"},
        ],
    )
    said = [(m["role"], m["content"]) for m in org.external.last.body["messages"][1:]]
    assert said == [
        ("system", "Answer in French."),
        ("user", "Hi"),
        ("assistant", "Bonjour"),
        ("user", "And goodbye?"),
    ]


def test_the_length_limit_reaches_the_backend_and_an_answer_it_cuts_is_incomplete(
    org, openai_on_either
):
    org.external.finish = "length"
    client = openai_on_either(org.alice)
    response = _respond(client, input="Hello", max_output_tokens=3, temperature=0.2).parse()
    assert org.external.last.body["max_tokens"] == 3
    assert org.external.last.body["temperature"] == 0.2
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 3
    events = list(_respond(client, input="Hello", max_output_tokens=3, stream=True).parse())
    assert events[-1].type == "response.incomplete"


def test_a_backend_failure_is_502_whole_and_a_failed_response_streamed(org, openai_on_either):
    org.external.fail = 500
    client = openai_on_either(org.alice)
    with pytest.raises(openai.InternalServerError) as failed:
        _respond(client, input="Hello")
    assert failed.value.body["type"] == "backend_error"
    events = list(_respond(client, input="Hello", stream=True).parse())
    assert events[-1].type == "response.failed"
    assert "HTTP 500" in events[-1].response.error.message
    assert events[-1].response.error.message.endswith("the request may be sent again.")
    answers = Message.objects.filter(role=Message.Role.ASSISTANT)
    assert {a.status for a in answers} == {Message.Status.FAILED}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_FAILURE).count() == 2


def test_a_blocked_input_never_leaves_and_names_its_reasons(org, openai_for):
    DetectionRule.objects.create(
        name="Privilege", reason="Legal advice stays here", pattern="privileged", action="block"
    )
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _respond(openai_for(org.alice), instructions="This memo is privileged.", input="Sum up.")
    assert refused.value.body["type"] == "policy_violation"
    assert "Legal advice stays here" in refused.value.body["message"]
    assert org.external.requests == [] and org.local.requests == []
    event = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_REQUEST)
    assert event.outcome == AuditEvent.Outcome.BLOCKED


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"conversation": "conv_123"}, "conversation"),
        ({"tools": [{"type": "web_search"}]}, "tools"),
        ({"text": {"format": {"type": "json_object"}}}, "text"),
        ({"background": True}, "background"),
    ],
)
def test_what_steward_cannot_give_is_400_naming_it_and_sends_nothing(org, openai_for, extra, param):
    with pytest.raises(openai.BadRequestError) as refused:
        _respond(openai_for(org.alice), input="Hello", **extra)
    assert refused.value.body["code"] == "unsupported_parameter"
    assert refused.value.body["param"] == param
    assert org.external.requests == []


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"input": []}, "invalid_input"),
        ({"input": 42}, "invalid_input"),
        ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "invalid_input"),
        ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "invalid_content"),
        ({"input": "  "}, "empty_messages"),
        ({"input": "Hi", "instructions": ["no"]}, "invalid_value"),
        ({"input": "Hi", "max_output_tokens": 0}, "invalid_value"),
    ],
)  # fmt: skip
def test_a_bad_request_is_400_and_sends_nothing(org, openai_for, extra, code):
    with pytest.raises(openai.BadRequestError) as refused:
        _respond(openai_for(org.alice), **extra)
    assert refused.value.body["code"] == code
    assert org.external.requests == []
    assert not Conversation.objects.exists()
