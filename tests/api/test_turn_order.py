"""/v1 to Anthropic and Bedrock: what their fakes receive is the user's turn first, then
turns that alternate, none empty, as their APIs insist (the chat page's history gets the
same from the same adapters: tests/chat/test_answering.py)."""

import pytest
from django.utils.text import slugify

from chat.answering import SYSTEM_PROMPT
from governance.models import Approval, HostingClass
from tests.fakes.llm_servers import FakeLLM

SHAPES = {
    "a RAG context and its question, two user turns": (
        [
            {"role": "system", "content": "Answer from the context."},
            {"role": "user", "content": "Context: the office opens at 9."},
            {"role": "user", "content": "When does the office open?"},
        ],
        [("user", "Context: the office opens at 9.\n\nWhen does the office open?")],
    ),
    "a widget's history that opens with its greeting": (
        [
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "Opening hours?"},
        ],
        [("user", "Opening hours?")],
    ),
    "an empty assistant turn between two questions": (
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "Again"},
        ],
        [("user", "Hi\n\nAgain")],
    ),
    "a conversation that alternates already": (
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Again"},
        ],
        [("user", "Hi"), ("assistant", "Hello."), ("user", "Again")],
    ),
}


@pytest.fixture(params=["anthropic", "bedrock"])
def vendor(request, org, backend_for):
    """A fake Anthropic or Bedrock backend that may serve category 2 (internal)."""
    fake = FakeLLM(request.param)
    backend = backend_for(fake, hosting_class=HostingClass.PRIVATE_CLOUD, dpa_signed=True)
    Approval.objects.create(category=org.internal, backend=backend, preference=0)
    yield fake, slugify(backend.name)
    fake.stop()


def _turns(fake) -> list[tuple[str, str]]:
    body = fake.last.body
    if fake.kind == "bedrock":
        return [(m["role"], "".join(p["text"] for p in m["content"])) for m in body["messages"]]
    return [(m["role"], m["content"]) for m in body["messages"]]


def _system(fake) -> str:
    system = fake.last.body.get("system")
    return "\n\n".join(part["text"] for part in system) if fake.kind == "bedrock" else system


@pytest.mark.parametrize("shape", SHAPES)
def test_the_backend_receives_turns_that_alternate_from_the_user(org, openai_for, vendor, shape):
    fake, model = vendor
    messages, received = SHAPES[shape]
    reply = openai_for(org.alice).chat.completions.create(
        model=model, messages=messages, extra_headers={"X-Steward-Category": "internal"}
    )
    assert reply.choices[0].message.content == "Hello, world!"
    assert _turns(fake) == received
    assert SYSTEM_PROMPT in _system(fake)


def test_the_requests_system_message_goes_in_the_system_field(org, openai_for, vendor):
    fake, model = vendor
    messages, _ = SHAPES["a RAG context and its question, two user turns"]
    openai_for(org.alice).chat.completions.create(
        model=model, messages=messages, extra_headers={"X-Steward-Category": "internal"}
    )
    assert "Answer from the context." in _system(fake)
