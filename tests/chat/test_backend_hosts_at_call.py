"""chat.llm's adapter_for: the checks of a backend's address made at each call.

STEWARD_BACKEND_HOSTS is checked at every call, so a listed network's name is resolved then:
briefly remembered, or a slow DNS would be waited on by every answer. An address saved
before the rule that it ends at its path is refused as the console refuses it.
"""

import socket

import pytest

from chat import services
from chat.llm import LLMError, adapter_for
from chat.models import Message
from config import env
from governance.models import Backend
from tests.factories import make_backend

BACKEND_NETWORK = ("10.0.0.0/8",)
NAMED = "http://model-box.internal:11434"


@pytest.fixture
def dns(monkeypatch):
    """Names resolved as the test says (any other: not found), each lookup counted; the
    resolutions remembered start empty, and the clock stands still until the test moves it."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers[host]]

    clock = [1000.0]
    monkeypatch.setattr(env.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(env, "_resolved", {})
    monkeypatch.setattr(env, "monotonic", lambda: clock[0])
    return answers, lookups, clock


@pytest.fixture
def named_backend(db, settings):
    settings.STEWARD_BACKEND_HOSTS = BACKEND_NETWORK
    return make_backend(name="Model box", kind="ollama", base_url=NAMED)


def test_it_resolves_a_name_once_within_the_window(dns, named_backend):
    answers, lookups, clock = dns
    answers["model-box.internal"] = ["10.1.2.3"]
    for _ in range(3):
        adapter_for(named_backend)
    clock[0] += env.RESOLVED_FOR_SECONDS - 1
    adapter_for(named_backend)
    assert lookups == ["model-box.internal"]


def test_it_resolves_the_name_again_after_the_window(dns, named_backend):
    """The check guards the name's current addresses: one that moved outside the listed
    networks is refused once the window has passed."""
    answers, lookups, clock = dns
    answers["model-box.internal"] = ["10.1.2.3"]
    adapter_for(named_backend)
    answers["model-box.internal"] = ["169.254.169.254"]
    clock[0] += env.RESOLVED_FOR_SECONDS + 1
    with pytest.raises(LLMError) as info:
        adapter_for(named_backend)
    assert info.value.kind == "config" and "resolves to an address outside" in str(info.value)
    assert lookups == ["model-box.internal"] * 2


def test_it_does_not_remember_a_name_that_failed_to_resolve(dns, named_backend):
    answers, lookups, _clock = dns
    for _ in range(2):
        with pytest.raises(LLMError) as info:
            adapter_for(named_backend)
        assert info.value.kind == "config" and "cannot be resolved" in str(info.value)
    answers["model-box.internal"] = ["10.1.2.3"]  # the DNS mended: it counts at once
    adapter_for(named_backend)
    assert lookups == ["model-box.internal"] * 3


def test_the_window_holds_for_the_name_not_the_verdict(dns, named_backend, settings):
    """The list may change meanwhile (a test, a reload): the remembered addresses are
    checked against the list of the moment."""
    answers, _lookups, _clock = dns
    answers["model-box.internal"] = ["10.1.2.3"]
    adapter_for(named_backend)
    settings.STEWARD_BACKEND_HOSTS = ("192.168.0.0/16",)
    with pytest.raises(LLMError, match="resolves to an address outside"):
        adapter_for(named_backend)


# --- an address saved with a ?query or #fragment -------------------------------------------


@pytest.mark.parametrize("suffix", ["?x=1", "?", "#top"])
def test_an_address_with_a_query_is_refused_at_the_call(
    org, django_capture_on_commit_callbacks, suffix
):
    """Saved before the console refused it: the vendor's client would put its path after the
    query (…/v1?x=1/chat/completions), so nothing is sent, and the admin is told what to fix."""
    external = Backend.objects.get(name="OpenAI business API")
    Backend.objects.filter(pk=external.pk).update(base_url=org.external.url + suffix)
    external.refresh_from_db()
    with pytest.raises(LLMError) as info:
        adapter_for(external)
    assert info.value.kind == "config"
    assert str(info.value) == (
        "OpenAI business API may not be called: The address ends at its path: no ?query or "
        "#fragment. Edit the backend's address in the policy console."
    )
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_message(conversation=conversation, author=org.alice, text="Hello")
    sent.answer.refresh_from_db()
    assert (sent.answer.status, sent.answer.error_kind) == (Message.Status.FAILED, "config")
    assert "ends at its path" in sent.answer.error
    assert org.external.requests == []
