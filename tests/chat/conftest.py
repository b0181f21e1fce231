"""Fake LLM backends on loopback, one per kind, and a backend row pointing at each."""

import pytest

from governance.models import Backend, HostingClass
from tests.factories import make_backend
from tests.fakes.llm_servers import FakeLLM

KEY = "sk-test-0123456789abcdefKEY"

MODELS = {"ollama": "llama3.2", "openai": "gpt-4o-mini", "anthropic": "claude-x"}


@pytest.fixture(params=["ollama", "openai", "anthropic"])
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
        }
        values.update(overrides)
        backend = make_backend(**values)
        if key:
            backend.seal_credential(key)
            backend.save(update_fields=["credential_encrypted"])
        return backend

    return make


@pytest.fixture
def backend(fake, backend_for):
    return backend_for(fake)
