"""An answer the web process streams for the API goes on while Redis is down.

Its backend is fine; Redis holds only its stop flag and its heartbeat. A look at the flag
that fails is a look missed (the answer goes on, said once in the log, without its
text), not the backend's failure: every streamed API answer failed with
``backend_error``/``internal`` after its first chunk.
"""

import asyncio
import logging
from types import SimpleNamespace

import pytest
import redis

from chat import answering, llm, services, streams
from chat.answering import liveness, production
from chat.models import Message
from tests.api.conftest import (  # noqa: F401  (fixtures)
    _no_persistent_connections,
    openai_on_either,
    token_for,
)
from tests.browser.conftest import asgi_server  # noqa: F401  (fixtures)

REPLY = ["The ", "ledger ", "balances ", "today."]


@pytest.fixture
def redis_fails(monkeypatch):
    """Redis refuses the answer's looks at its stop flag (and, ``fail_all``, its heartbeat);
    the calls made are counted."""
    looks = []

    def refused(*args, **kwargs):
        looks.append(args)
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(production, "CANCEL_POLL_SECONDS", 0)  # the flag looked at every chunk
    monkeypatch.setattr(streams, "poll", refused)

    def fail_all():
        monkeypatch.setattr(streams, "beat", refused)
        monkeypatch.setattr(streams, "stop_beat", refused)

    return SimpleNamespace(looks=looks, fail_all=fail_all)


class _Writer:
    def __init__(self):
        self.chunks = []

    def chunk(self, text):
        self.chunks.append(text)
        # A heartbeat comes mid-answer (and fails with Redis): the answer has been beaten, so
        # its end tries to end the beat too.
        liveness._heartbeats.beat_once()


def _queued(org, django_capture_on_commit_callbacks):
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    with django_capture_on_commit_callbacks(execute=False):
        return services.send_message(conversation=conversation, author=org.alice, text="Hi").answer


def _stop_flag_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "stop flag could not be read" in r.getMessage()]


def test_a_streamed_api_answer_goes_on_while_redis_fails(
    org,
    openai_on_either,  # noqa: F811
    redis_fails,
    caplog,
):
    org.external.reply = REPLY
    stream = openai_on_either(org.alice).chat.completions.create(
        model="openai-business-api",
        messages=[{"role": "user", "content": "How is the ledger?"}],
        stream=True,
        extra_headers={"X-Steward-Category": "internal"},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "".join(REPLY)
    assert redis_fails.looks  # the flag was looked at, and Redis refused
    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert (answer.status, answer.error_kind) == (Message.Status.DONE, "")
    [warning] = _stop_flag_warnings(caplog)  # once, however many looks failed
    assert str(answer.public_id) in warning.getMessage()
    assert "ledger" not in warning.getMessage()


def test_a_thread_streamed_answer_survives_redis_failing_to_its_end(
    org, django_capture_on_commit_callbacks, redis_fails
):
    """Its heartbeat's end fails too (the key expires by itself): not a failure either."""
    redis_fails.fail_all()
    org.external.reply = REPLY
    answer = _queued(org, django_capture_on_commit_callbacks)
    writer = _Writer()
    progress = answering.stream_answer(answer, answering._history(answer), writer, begun=False)
    assert (progress.error_kind, progress.text) == ("", "".join(REPLY))
    assert len(redis_fails.looks) > len(REPLY)  # every look, and the beats, refused


def test_an_answer_on_the_event_loop_survives_redis_failing_to_its_end(
    org, django_capture_on_commit_callbacks, redis_fails
):
    redis_fails.fail_all()
    org.external.reply = REPLY
    answer = _queued(org, django_capture_on_commit_callbacks)
    messages, writer = answering._history(answer), _Writer()

    async def answered():
        try:
            return await answering.astream_answer(answer, messages, writer)
        finally:
            await llm.close_async_clients()

    progress = asyncio.run(answered())
    assert (progress.error_kind, progress.text) == ("", "".join(REPLY))
    assert len(redis_fails.looks) > len(REPLY)
