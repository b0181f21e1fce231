"""An API request on the built-in model follows the worker's stream (``answering.follow``).

An answer stopped by a delete (or a purge, or an erasure: see
tests/privacy/test_erasure_live_answers.py) has its stream dropped with no end: the
follower learns it from the answer's row at its next silence, not after the answer's
whole time limit.
"""

import time

from chat import answering, streams
from chat import services as chat
from chat.answering import following
from chat.models import Message


def test_follow_ends_promptly_when_the_conversation_is_deleted(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(following, "FOLLOW_SILENCE_MS", 500)
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    with django_capture_on_commit_callbacks(execute=False):  # queued, not yet answered
        sent = chat.send_message(conversation=conversation, author=org.carol, text="Hello")
    answer = Message.objects.get(pk=sent.answer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        chat.delete_conversation(conversation=conversation, actor=org.carol)
    started = time.monotonic()
    followed = answering.follow(answer, streams.AnswerWriter(answer.public_id), limit_seconds=15)
    assert time.monotonic() - started < 5 and followed.cancelled
