"""An API request on the built-in model follows the worker's stream (``answering.follow``).

An answer stopped by an erasure, a purge or a delete has its stream dropped with no end:
the follower learns it from the answer's row at its next silence, not after the answer's
whole time limit.
"""

import time

from chat import answering, streams
from chat import services as chat
from chat.models import Message
from privacy import erasure
from privacy.scope import digest_of

EMAIL = "jane.roe@example.org"


class _Sink:
    def chunk(self, text):
        pass


def _sent(org, django_capture_on_commit_callbacks):
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    with django_capture_on_commit_callbacks(execute=False):
        return chat.send_message(conversation=conversation, author=org.carol, text=f"Mail {EMAIL}")


def _follow(answer) -> tuple[answering.Progress, float]:
    started = time.monotonic()
    progress = answering.follow(answer, _Sink(), limit_seconds=15)
    return progress, time.monotonic() - started


def test_follow_ends_promptly_when_an_erasure_stops_the_answer(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(answering, "CANCEL_POLL_SECONDS", 0)
    monkeypatch.setattr(answering, "FOLLOW_SILENCE_MS", 500)
    org.local.reply = ["I will write to ", EMAIL, " today", "."]
    org.local.delay = 0.05
    sent = _sent(org, django_capture_on_commit_callbacks)
    chunk = streams.AnswerWriter.chunk
    erased = []

    def chunk_then_erase(self, text):
        chunk(self, text)
        if not erased:
            with django_capture_on_commit_callbacks(execute=True):
                erased.append(erasure.erase(digests=[digest_of("email", EMAIL)], literals=[EMAIL]))

    monkeypatch.setattr(streams.AnswerWriter, "chunk", chunk_then_erase)
    answering.generate_answer(sent.answer.pk)
    answer = Message.objects.get(pk=sent.answer.pk)
    assert answer.status == Message.Status.CANCELLED  # the erasure stopped it

    progress, waited = _follow(answer)
    assert waited < 5, f"follow waited {waited:.1f}s for an end that never comes"
    assert progress.cancelled and progress.error_kind == "", progress.error


def test_follow_ends_promptly_when_the_conversation_is_deleted(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(answering, "FOLLOW_SILENCE_MS", 500)
    sent = _sent(org, django_capture_on_commit_callbacks)
    answer = Message.objects.get(pk=sent.answer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        chat.delete_conversation(conversation=answer.conversation, actor=org.carol)
    progress, waited = _follow(answer)
    assert waited < 5 and progress.cancelled
