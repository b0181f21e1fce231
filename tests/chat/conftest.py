"""Fake LLM backends on loopback, one per kind, and a backend row pointing at each."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from chat.models import Message
from governance.models import Backend, Category, HostingClass, User
from tests.factories import make_backend
from tests.fakes.llm_servers import VERTEX_PROJECT, VERTEX_REGION, FakeLLM

KEY = "sk-test-0123456789abcdefKEY"
AWS_KEY_ID = "AKIAFAKE0123456789"

MODELS = {
    "ollama": "llama3.2",
    "openai": "gpt-4o-mini",
    "anthropic": "claude-x",
    "bedrock": "eu.anthropic.claude-x-v1:0",
    "azure": "gpt-4o-deployment",
    "azure_v1": "gpt-4o-deployment",
    "vertex": "google/gemini-2.5-flash",
    "mistral": "mistral-small-latest",
}
#: What each fake's backend row needs besides its kind, address and model.
BACKEND_VALUES = {
    "bedrock": {"region": "eu-central-1", "hosting_class": HostingClass.PRIVATE_CLOUD},
    "azure": {"api_version": "2024-10-21"},
    "azure_v1": {"kind": "azure"},
    "vertex": {"project": VERTEX_PROJECT, "region": VERTEX_REGION},
}


def web_process_died(answer) -> None:
    """The web process that claimed an API answer died a while ago, before its first beat
    (a claim a moment old is left to its claimer, who may not have beaten yet)."""
    a_while_ago = timezone.now() - timedelta(seconds=30)
    Message.objects.filter(pk=answer.pk).update(started_at=a_while_ago)


def key_for(kind: str, secret: str = KEY) -> str:
    """A key in the form the kind takes (Bedrock's: an access key id and its secret)."""
    return f"{AWS_KEY_ID}:{secret}" if kind == "bedrock" else secret


@pytest.fixture(params=list(MODELS))
def kind(request):
    return request.param


@pytest.fixture
def fake(kind):
    server = FakeLLM(kind)
    yield server
    server.stop()


@pytest.fixture
def backend_for(db):
    """A backend row of ``fake``'s kind at its URL; the key sealed in, unless told otherwise."""

    def make(fake: FakeLLM, *, key: str | None = KEY, **overrides) -> Backend:
        values = {
            "name": f"Fake {fake.kind}",
            "kind": fake.kind,
            "base_url": fake.url,
            "model": MODELS[fake.kind],
            "hosting_class": HostingClass.ON_PREM,
            **BACKEND_VALUES.get(fake.kind, {}),
        }
        values.update(overrides)
        backend = make_backend(**values)
        if key:
            backend.seal_credential(key_for(fake.kind, key))
            backend.save(update_fields=["credential_encrypted"])
        return backend

    return make


@pytest.fixture
def backend(fake, backend_for):
    return backend_for(fake)


@pytest.fixture
def local_llm():
    server = FakeLLM("ollama", reply=["Hello ", "from ", "the ", "local ", "model."])
    yield server
    server.stop()


@pytest.fixture
def external_llm():
    server = FakeLLM("openai", reply=["Hello ", "from ", "the ", "API."])
    yield server
    server.stop()


@pytest.fixture
def org(db, redis_server, local_llm, external_llm, monkeypatch):
    """The demo organisation, its Ollama and OpenAI backends pointed at fakes on loopback.

    Alice is plain staff (categories 1 and 2); Carol is also cleared for 3.
    Category 2 goes first to the external API, category 3 only to the local model:
    the demo's built-in model is switched off here (tests/chat/test_builtin.py turns it on).
    """
    from governance.demo import BUILTIN_NAME, seed_demo_organisation

    seed_demo_organisation()
    Backend.objects.filter(name=BUILTIN_NAME).update(enabled=False)
    Backend.objects.filter(name="Local Ollama").update(base_url=local_llm.url)
    Backend.objects.filter(name="OpenAI business API").update(
        base_url=external_llm.url, credential_env="STEWARD_TEST_OPENAI_KEY"
    )
    monkeypatch.setenv("STEWARD_TEST_OPENAI_KEY", KEY)
    return SimpleNamespace(
        alice=User.objects.get(email="alice@example.com"),
        carol=User.objects.get(email="carol@example.com"),
        public=Category.objects.get(slug="public"),
        internal=Category.objects.get(slug="internal"),
        confidential=Category.objects.get(slug="confidential"),
        prohibited=Category.objects.get(slug="prohibited"),
        local=local_llm,
        external=external_llm,
    )
