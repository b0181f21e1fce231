"""A backend's health panel: what its last "Test connection" found, in words that agree."""

from django.utils import timezone

from tests.factories import make_backend


def test_it_does_not_call_the_time_a_failed_test_took_a_latency(client, admin):
    """ "Cannot connect …" above "Latency 27 ms" read as if the backend had answered."""
    backend = make_backend(
        name="Dead Ollama", health_checked_at=timezone.now(), health_latency_ms=27,
        health_error="Cannot connect to Dead Ollama at http://127.0.0.1:1.",
    )  # fmt: skip
    client.force_login(admin)

    text = client.get(f"/policy/backends/{backend.public_id}/").content.decode()

    assert "Latency" not in text
    assert "<dt>Failed after</dt><dd>27 ms</dd>" in text


def test_it_says_how_fast_a_backend_answered(client, admin):
    backend = make_backend(health_checked_at=timezone.now(), health_latency_ms=340)
    client.force_login(admin)

    text = client.get(f"/policy/backends/{backend.public_id}/").content.decode()

    assert "<dt>Answered in</dt><dd>340 ms</dd>" in text
