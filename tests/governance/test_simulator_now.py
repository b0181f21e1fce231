"""The simulator says which backend answers now, as a message sent now would find it: the
policy's first choice may be passed over (no key on this server, or unreachable lately)."""

from django.urls import reverse

from governance.models import User
from tests.chat import conftest as chat

# The chat app's fixtures: the demo organisation, its backends faked on loopback.
org, local_llm, external_llm = chat.org, chat.local_llm, chat.external_llm


def _simulate(client, sender, category: int, text: str) -> str:
    client.force_login(User.objects.get(email="paula@example.com"))
    return client.post(
        reverse("governance:simulator"),
        {"text": text, "user": sender.email, "category": category},
    ).text


def test_the_simulator_names_the_backend_a_message_would_reach_now(org, client, monkeypatch):
    """It said "→ OpenAI business API" while every real message went to another, the first
    choice having no key on the server: an admin believed the wrong thing."""
    page = _simulate(client, org.alice, 2, "Mail a@b.example")
    assert "→ OpenAI business API" in page and "answers instead" not in page
    monkeypatch.delenv("STEWARD_TEST_OPENAI_KEY")
    page = _simulate(client, org.alice, 2, "Mail a@b.example")
    assert "→ OpenAI business API" in page  # the policy's choice, as it stands
    assert (
        "Right now Local Ollama answers instead: OpenAI business API has no key on this "
        "server (STEWARD_TEST_OPENAI_KEY is not set)."
    ) in page


def test_the_simulator_says_when_the_first_choice_could_not_be_reached_lately(org, client):
    from chat import streams
    from governance.models import Backend

    streams.mark_unreachable(Backend.objects.get(name="OpenAI business API").public_id, 60)
    page = _simulate(client, org.alice, 2, "Hello")
    assert (
        "Right now Local Ollama answers instead: OpenAI business API could not be reached in "
        "the last minute."
    ) in page


def test_the_simulator_words_how_long_a_backend_is_passed_over_from_the_setting(
    org, client, monkeypatch
):
    from chat import streams
    from governance.models import Backend

    monkeypatch.setattr(streams, "UNREACHABLE_FOR_SECONDS", 120)
    streams.mark_unreachable(Backend.objects.get(name="OpenAI business API").public_id)
    page = _simulate(client, org.alice, 2, "Hello")
    assert "OpenAI business API could not be reached in the last 2 minutes." in page
