"""A category that keeps no content: answers are shown once, and no text reaches the database."""

import importlib
import json

import pytest
import redis
from django.apps import apps
from django.db import connection

from chat import services, streams, transient
from chat.models import Conversation, Message
from chat.services import steps
from chat.turns import turn_for

EMAIL = "jane.roe@example.org"
WORD = "Zanzibarquist"  # a word that appears nowhere else


@pytest.fixture
def passing(org):
    """Internal keeps nothing here (no retention window)."""
    org.internal.retention_days = None
    org.internal.save()
    org.external.reply = ["Noted: ", "[EMAIL_1]", " and ", WORD, "."]
    return services.start_conversation(owner=org.alice, category=org.internal)


def _send(capture, conversation, author, text):
    with capture(execute=True):
        return services.send_message(conversation=conversation, author=author, text=text)


def _dumps():
    for model in apps.get_models():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
            yield model._meta.db_table, repr(cursor.fetchall())


def test_no_text_reaches_the_database(passing, org, django_capture_on_commit_callbacks):
    sent = _send(django_capture_on_commit_callbacks, passing, org.alice, f"Write {WORD} to {EMAIL}")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.DONE and sent.answer.chars > 0
    for message in Message.objects.filter(conversation=passing):
        assert bytes(message.content_sealed) == b"" and bytes(message.sent_sealed) == b""
    conversation = Conversation.objects.get(pk=passing.pk)
    assert bytes(conversation.title_sealed) == b"" and bytes(conversation.pseudonyms_sealed) == b""
    for table, dump in _dumps():
        assert WORD not in dump and EMAIL not in dump, table
    assert EMAIL not in json.dumps([r.body for r in org.external.requests])


def test_a_backends_error_quoting_the_question_is_not_kept(
    passing, org, django_capture_on_commit_callbacks
):
    """The backend's words may quote what it was sent: in a category that keeps no content
    the author reads Steward's own sentence instead, and the error is not kept."""
    org.external.fail = 400
    org.external.error_body = lambda status: {
        "error": {"message": f"Cannot parse the prompt near '{WORD}'", "type": "x", "code": None}
    }
    sent = _send(django_capture_on_commit_callbacks, passing, org.alice, f"Write {WORD} for me")
    answer = Message.objects.get(pk=sent.answer.pk)
    assert answer.status == Message.Status.FAILED and answer.error_kind == "http"
    assert WORD not in answer.error and "its words are not kept" in answer.error
    for table, dump in _dumps():
        assert WORD not in dump, table


def test_the_author_sees_the_turn_while_it_passes_then_a_note(
    passing, org, django_capture_on_commit_callbacks
):
    sent = _send(django_capture_on_commit_callbacks, passing, org.alice, f"Write to {EMAIL}")
    question = Message.objects.select_related("conversation__category").get(pk=sent.message.pk)
    answer = Message.objects.select_related("conversation__category").get(pk=sent.answer.pk)
    assert turn_for(question).text == f"Write to {EMAIL}"
    assert turn_for(answer).text == f"Noted: {EMAIL} and {WORD}."  # placeholder restored
    streams.forget(answer.public_id)
    transient.forget(answer.public_id)
    assert turn_for(question).text == "" and turn_for(answer).text == ""
    assert not turn_for(answer).kept


def test_each_question_goes_alone(passing, org, django_capture_on_commit_callbacks):
    _send(django_capture_on_commit_callbacks, passing, org.alice, "First question")
    _send(django_capture_on_commit_callbacks, passing, org.alice, "Second question")
    last = org.external.requests[-1].body["messages"]
    assert [m["role"] for m in last] == ["system", "user"]
    assert last[-1]["content"] == "Second question"


def test_a_retry_is_refused(passing, org, django_capture_on_commit_callbacks):
    org.external.fail = 500
    sent = _send(django_capture_on_commit_callbacks, passing, org.alice, "Hello")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED
    with pytest.raises(services.ChatError, match="send it again"):
        services.retry_answer(answer=sent.answer, author=org.alice)


def test_with_redis_down_nothing_is_sent_or_kept(passing, org, monkeypatch):
    def down(*args, **kwargs):
        raise redis.ConnectionError("down")

    monkeypatch.setattr(streams.client(), "set", down)
    with pytest.raises(services.ChatError, match="nothing was sent or kept"):
        services.send_message(conversation=passing, author=org.alice, text="Hello")
    assert not Message.objects.filter(conversation=passing).exists()
    assert org.external.requests == []


def test_a_question_no_longer_held_fails_with_the_reason(
    passing, org, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(transient, "load", lambda *args: None)
    sent = _send(django_capture_on_commit_callbacks, passing, org.alice, "Hello")
    sent.answer.refresh_from_db()
    assert sent.answer.status == Message.Status.FAILED and "send it again" in sent.answer.error
    assert org.external.requests == []


def test_a_message_that_slipped_past_the_busy_check_is_refused_and_not_held(
    passing, org, django_capture_on_commit_callbacks, monkeypatch
):
    """Two messages sent at once: the second's check can read from before the first's answer
    (see services._locked); the database's constraint refuses it, and what was held in Redis
    for it is dropped."""
    with django_capture_on_commit_callbacks(execute=False):
        first = services.send_message(conversation=passing, author=org.alice, text="One").answer
    monkeypatch.setattr(steps, "_LOCKED_IDLE", steps._LOCKED)  # as if read too early
    held_before = _held()
    assert f"steward:transient:{first.public_id}".encode() in held_before
    with pytest.raises(services.ChatError, match="still on its way"):
        services.send_message(conversation=passing, author=org.alice, text=f"Two, {WORD}")
    assert passing.messages.count() == 2
    assert _held() == held_before
    transient.forget(first.public_id)


def _held() -> set[bytes]:
    return set(streams.client().scan_iter("steward:transient:*"))


def test_errors_kept_before_with_the_backends_words_are_replaced(
    passing, org, django_capture_on_commit_callbacks
):
    """Failures stored before that rule (chat migration 0008): the backend's words go, the
    sentence of today stays; a kept category's errors are left as they are."""
    forget = importlib.import_module(
        "chat.migrations.0008_no_content_errors_forget_backend_words"
    ).forget_backend_words
    org.external.fail = 400
    sent = _send(django_capture_on_commit_callbacks, passing, org.alice, "Write it for me")
    answer = Message.objects.get(pk=sent.answer.pk)
    answer.error = f"Fake openai answered HTTP 400: Cannot parse the prompt near '{WORD}'"
    answer.save(update_fields=["error_sealed"])
    kept = services.start_conversation(owner=org.alice, category=org.public)
    other = _send(django_capture_on_commit_callbacks, kept, org.alice, "Write it for me").answer
    other = Message.objects.get(pk=other.pk)
    before = other.error
    assert WORD in Message.objects.get(pk=answer.pk).error
    shredded = services.start_conversation(owner=org.alice, category=org.internal)
    failed = _send(django_capture_on_commit_callbacks, shredded, org.alice, "Again").answer
    Conversation.objects.filter(pk=shredded.pk).update(data_key_wrapped=b"gone")
    forget(apps, None)  # a key that does not open is passed over, not a failed migration
    answer = Message.objects.get(pk=answer.pk)
    assert WORD not in answer.error and "its words are not kept" in answer.error
    assert Message.objects.get(pk=other.pk).error == before
    assert bytes(Message.objects.get(pk=failed.pk).error_sealed)  # left as it was
