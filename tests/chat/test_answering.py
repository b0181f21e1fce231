"""chat.answering: how a backend's stream becomes an answer, and the history it is sent."""

import asyncio
import time
from datetime import timedelta

from chat import answering, llm, services
from chat.answering import production
from chat.llm import Sampling, adapter_for
from chat.models import Message
from governance.models import HostingClass
from tests.chat.conftest import AWS_KEY_ID, KEY, web_process_died
from tests.factories import make_backend

EMAIL = "jane.roe@example.org"


class _Writer:
    def __init__(self):
        self.chunks = []

    def chunk(self, text):
        self.chunks.append(text)

    def end(self, status):
        pass


def _send(django_capture_on_commit_callbacks, conversation, author, text, *, run=True):
    with django_capture_on_commit_callbacks(execute=run):
        return services.send_message(conversation=conversation, author=author, text=text)


def _queued(org, django_capture_on_commit_callbacks):
    """A sent question whose answer is not produced yet (its task not run)."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    return _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello", run=False)


# --- the answer's own time limit -------------------------------------------------------------


def _thinking(org, monkeypatch):
    """A reasoning model, 4 s of chunks without answer text (OpenAI-compatible servers stream
    the reasoning with an empty ``content``), and an answer limit of 0.5 s."""
    monkeypatch.setattr(production, "ANSWER_SOFT_LIMIT_SECONDS", 0.5)
    org.external.reply = [""] * 80
    org.external.delay = 0.05


def test_the_time_limit_holds_while_the_backend_streams_chunks_without_text(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """Such a backend is never silent, so the read timeout never ends it: the limit is
    checked on every chunk, text or not."""
    _thinking(org, monkeypatch)
    answer = _queued(org, django_capture_on_commit_callbacks).answer
    writer, began = _Writer(), time.monotonic()
    progress = answering.stream_answer(answer, answering._history(answer), writer, begun=False)
    assert progress.error_kind == "timeout" and time.monotonic() - began < 2.5
    assert writer.chunks == [] and progress.first_token_ms is None  # no text came


def test_the_time_limit_holds_on_the_event_loop_too(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    _thinking(org, monkeypatch)
    answer = _queued(org, django_capture_on_commit_callbacks).answer
    messages, writer, began = answering._history(answer), _Writer(), time.monotonic()

    async def answered():
        try:
            return await answering.astream_answer(answer, messages, writer)
        finally:
            await llm.close_async_clients()

    progress = asyncio.run(answered())
    assert progress.error_kind == "timeout" and time.monotonic() - began < 2.5
    assert writer.chunks == []


# --- the history as the backends require it -------------------------------------------------


def _bedrock():
    backend = make_backend(
        name="Bedrock EU",
        kind="bedrock",
        model="eu.anthropic.claude-x-v1:0",
        region="eu-central-1",
        hosting_class=HostingClass.PRIVATE_CLOUD,
    )
    backend.seal_credential(f"{AWS_KEY_ID}:{KEY}")
    backend.save(update_fields=["credential_encrypted"])
    return backend


def _anthropic():
    backend = make_backend(
        name="Claude", kind="anthropic", model="claude-x", base_url="http://127.0.0.1:9"
    )
    backend.seal_credential(KEY)
    backend.save(update_fields=["credential_encrypted"])
    return backend


def test_after_a_failed_answer_the_history_still_alternates_roles(
    org, django_capture_on_commit_callbacks
):
    """Bedrock's Converse API refuses two user turns in a row. A failed (or stopped) answer
    is left out of the history: its question goes with the next one, as one turn."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    org.external.fail = 500
    first = _send(django_capture_on_commit_callbacks, conversation, org.alice, "First question")
    first.answer.refresh_from_db()
    assert first.answer.status == Message.Status.FAILED
    org.external.fail = None
    second = _send(
        django_capture_on_commit_callbacks, conversation, org.alice, "Second question", run=False
    )
    request = adapter_for(_bedrock())._request(answering._history(second.answer), Sampling())
    said = [(m["role"], m["content"][0]["text"]) for m in request["messages"]]
    assert said == [("user", "First question\n\nSecond question")]


def test_an_empty_answer_does_not_reach_the_backend_as_an_empty_turn(
    org, django_capture_on_commit_callbacks
):
    """Anthropic and Bedrock refuse a turn with no text. An empty answer (a content filter, a
    stop sequence at once) is left out, and the questions on either side go as one turn."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, conversation, org.alice, "Warm up")
    org.external.reply = []
    first = _send(django_capture_on_commit_callbacks, conversation, org.alice, "First question")
    first.answer.refresh_from_db()
    assert first.answer.status == Message.Status.DONE and first.answer.content == ""
    second = _send(
        django_capture_on_commit_callbacks, conversation, org.alice, "Second question", run=False
    )
    messages = answering._history(second.answer)
    request = adapter_for(_anthropic())._request(messages, Sampling())
    assert [(m["role"], m["content"]) for m in request["messages"]] == [
        ("user", "Warm up"),
        ("assistant", "Hello from the API."),
        ("user", "First question\n\nSecond question"),
    ]
    bedrock = adapter_for(_bedrock())._request(messages, Sampling())
    assert all(m["content"][0]["text"].strip() for m in bedrock["messages"])


# --- retries and take-overs ------------------------------------------------------------------


def _retried(org, django_capture_on_commit_callbacks, answer, *, run=True):
    with django_capture_on_commit_callbacks(execute=run):
        return services.retry_answer(answer=answer, author=org.alice)


def test_a_retried_answer_can_still_be_taken_over_when_its_worker_dies(
    org, django_capture_on_commit_callbacks
):
    """Each ask (the first, each Retry) may be started ``MAX_ATTEMPTS`` times: a Retry does
    not use up the take-overs of the asks before it."""
    org.external.fail = org.local.fail = 500
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    answer = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hello").answer
    for _ in range(answering.MAX_ATTEMPTS - 1):
        answer.refresh_from_db()
        assert answer.status == Message.Status.FAILED
        answer = _retried(org, django_capture_on_commit_callbacks, answer)
    org.external.fail = org.local.fail = None
    answer.refresh_from_db()
    answer = _retried(org, django_capture_on_commit_callbacks, answer, run=False)
    claimed, _ = answering._claim(answer.pk)  # its worker claims it, and dies before a beat
    Message.objects.filter(pk=answer.pk).update(started_at=claimed.started_at - timedelta(30))
    answering.generate_answer(answer.pk)  # the redelivered task
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE, answer.error


def test_a_worker_still_holding_an_earlier_attempt_does_not_settle_the_retried_answer(
    org, django_capture_on_commit_callbacks
):
    """The attempt says whose the answer is: a Retry never gives it a number it had."""
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    sent = _send(django_capture_on_commit_callbacks, conversation, org.alice, "Hi", run=False)
    stale, _ = answering._claim(sent.answer.pk)  # its worker stalls; the sweeper fails it
    Message.objects.filter(pk=stale.pk).update(status=Message.Status.FAILED)
    failed = Message.objects.get(pk=stale.pk)
    answer = _retried(org, django_capture_on_commit_callbacks, failed, run=False)
    answering._claim(answer.pk)  # the retry's worker
    answering.settle(stale, _Writer(), answering.Progress(text="Stale"))  # the stalled one
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING


def test_an_api_answer_taken_over_by_a_worker_keeps_the_requests_roles(org):
    """If the web process dies mid-answer, a worker takes the answer over: it sends the
    request's turns with their roles, as the web process did (the client's system prompt
    is not made user text, nor an assistant turn put in the user's mouth)."""
    parts = [
        ("system", "Answer in French."),
        ("user", "Name a colour."),
        ("assistant", "Bleu."),
        ("user", f"Another one, for {EMAIL}."),
    ]
    sent = services.send_request(author=org.alice, category=org.internal, parts=parts)
    web_process_died(sent.answer)
    answering.generate_answer(sent.answer.pk)  # the sweeper's copy takes it over
    said = [(m["role"], m["content"]) for m in org.external.last.body["messages"]]
    assert said[1:] == list(sent.outgoing) and said[-1][1].startswith("Another one, for [")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.DONE


def test_a_followed_answer_settles_without_saying_it_was_superseded(caplog):
    """The API follows a built-in model's answer that a worker produces and settles: every
    such answer logged "attempt 0 superseded" at INFO, which reads like a fault."""
    import logging
    from types import SimpleNamespace

    from chat import answering

    answer = SimpleNamespace(public_id="a1b2", attempt=0)
    with caplog.at_level(logging.INFO, logger="chat.answering"):
        answering.settle(answer, None, answering.Progress(superseded=True, followed=True))
        assert "superseded" not in caplog.text
        answering.settle(answer, None, answering.Progress(superseded=True))
        assert "answer a1b2: attempt 0 superseded" in caplog.text
