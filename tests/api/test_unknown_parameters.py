"""/v1 refuses a parameter it neither honours nor knows to be harmless to drop, as the
README promises ("refused, not ignored"), and accepts the ones that leave the answer as it
is, and what the usual clients send by default."""

import httpx
import openai
import pytest

from chat.models import Message

INTERNAL = {"X-Steward-Category": "internal"}
HELLO = [{"role": "user", "content": "Hello"}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def _ask(client, **kwargs):
    return client.chat.completions.create(
        model="auto", messages=HELLO, extra_headers=INTERNAL, **kwargs
    )


def _post(live_server, secret, body, *, path="/v1/chat/completions"):
    return httpx.post(
        f"{live_server.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {secret}", **INTERNAL},
        timeout=30,
    )


@pytest.mark.parametrize(
    "name, value",
    [("logit_bias", {"50256": -100}), ("prediction", {"type": "content", "content": "Hi"}),
     ("reasoning_effort", "low"), ("verbosity", "low"), ("web_search_options", {}),
     ("parallel_tool_calls", False), ("guided_json", {"type": "object"}), ("top_k", 5),
     ("repetition_penalty", 1.1)],
)  # fmt: skip
def test_a_parameter_steward_does_not_honour_is_400_naming_it(org, openai_for, name, value):
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(openai_for(org.alice), extra_body={name: value})
    error = refused.value.body
    assert (error["code"], error["param"]) == ("unsupported_parameter", name)
    assert f"'{name}'" in error["message"]
    assert org.external.requests == [] and not Message.objects.exists()


def test_the_parameters_that_leave_the_answer_as_it_is_are_accepted_and_not_passed_on(
    org, openai_for
):
    reply = _ask(
        openai_for(org.alice),
        user="jane.roe@example.org",
        safety_identifier="user-42",
        store=True,
        service_tier="flex",
        prompt_cache_key="k",
        metadata={"category": "internal", "project": "x"},
    )
    assert reply.choices[0].message.content == "Hello from the API."
    sent = org.external.last.body
    assert not {"user", "safety_identifier", "store", "service_tier", "metadata"} & set(sent)
    assert "jane.roe" not in str(sent)


def test_a_parameter_set_to_null_asks_for_nothing(org, live_server, token_for):
    _, secret = token_for(org.alice)
    body = {"model": "auto", "messages": HELLO, "logit_bias": None, "verbosity": None}
    assert _post(live_server, secret, body).status_code == 200


def test_tools_the_request_says_not_to_call_are_accepted_and_not_sent(org, openai_for):
    """``tool_choice: "none"`` asks for a text answer, which is what Steward gives."""
    reply = _ask(openai_for(org.alice), tools=TOOLS, tool_choice="none", parallel_tool_calls=False)
    assert reply.choices[0].message.content == "Hello from the API."
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(org.external.last.body)


def test_tools_with_any_other_choice_are_still_refused(org, openai_for):
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(openai_for(org.alice), tools=TOOLS, tool_choice="auto")
    assert refused.value.body["param"] == "tools"


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
@pytest.mark.parametrize(
    "body",
    [
        {"stream": False},  # LangChain's ChatOpenAI, as it comes
        {"stream": False, "temperature": 0.2, "max_completion_tokens": 50},  # with settings
        {"stream": True, "stream_options": {"include_usage": True}},  # stream_usage=True
        {"stream": False, "n": 1},  # older LangChain sent n=1 every time
    ],
)
def test_what_the_usual_clients_send_by_default_is_accepted(org, live_server, token_for, body):
    _, secret = token_for(org.alice)
    response = _post(live_server, secret, {"model": "auto", "messages": HELLO, **body})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "name, value",
    [("reasoning", {"effort": "low"}), ("truncation", "auto"), ("max_tool_calls", 3),
     ("parallel_tool_calls", True)],
)  # fmt: skip
def test_the_responses_api_refuses_what_it_does_not_honour_too(org, openai_for, name, value):
    with pytest.raises(openai.BadRequestError) as refused:
        openai_for(org.alice).responses.create(
            model="auto", input="Hello", extra_headers=INTERNAL, extra_body={name: value}
        )
    assert (refused.value.body["code"], refused.value.body["param"]) == (
        "unsupported_parameter", name,
    )  # fmt: skip
    assert org.external.requests == []


def test_the_responses_api_accepts_what_leaves_the_answer_as_it_is(org, openai_for):
    response = openai_for(org.alice).responses.create(
        model="auto",
        input="Hello",
        extra_headers=INTERNAL,
        store=True,
        user="user-42",
        truncation="disabled",
        tools=TOOLS,
        tool_choice="none",
    )
    assert response.output_text == "Hello from the API."
