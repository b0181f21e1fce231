"""An erasure that reaches a conversation while its answer is on its way."""

import time

from chat import answering, streams
from chat import services as chat
from chat.answering import following, production
from chat.models import Message
from privacy import erasure
from privacy.scope import digest_of
from tests.privacy.conftest import SUBJECT_EMAIL as EMAIL


def test_an_erasure_stops_an_answer_that_streams_while_it_redacts(
    org, django_capture_on_commit_callbacks, monkeypatch
):
    """The answer's text is not in the database yet, so the redaction has nothing of it to
    redact; saved afterwards, it would keep what the erasure took out of the rest. The
    erasure stops the answer: nothing of it is kept, in the database or in Redis. A request
    that follows the answer (the API's, for a built-in model) learns so at its next silence,
    not at the end of the answer's time limit."""
    monkeypatch.setattr(production, "CANCEL_POLL_SECONDS", 0)  # the flag looked at every chunk
    monkeypatch.setattr(following, "FOLLOW_SILENCE_MS", 500)
    org.local.reply = ["I will write to ", EMAIL, " today", "."]
    org.local.delay = 0.05
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    with django_capture_on_commit_callbacks(execute=False):  # queued, not yet answered
        sent = chat.send_message(conversation=conversation, author=org.carol, text=f"Mail {EMAIL}")
    chunk = streams.AnswerWriter.chunk
    erased = []

    def chunk_then_erase(self, text):
        chunk(self, text)
        if not erased:
            with django_capture_on_commit_callbacks(execute=True):
                erased.append(erasure.erase(digests=[digest_of("email", EMAIL)], literals=[EMAIL]))

    monkeypatch.setattr(streams.AnswerWriter, "chunk", chunk_then_erase)
    answering.generate_answer(sent.answer.pk)
    assert erased[0].redacted_conversations == 1
    answer = Message.objects.get(pk=sent.answer.pk)
    assert (answer.status, answer.content) == (Message.Status.CANCELLED, "")
    assert streams.text_of(answer.public_id) == ""
    assert EMAIL not in conversation.messages.get(role=Message.Role.USER).content
    started = time.monotonic()
    followed = answering.follow(answer, streams.AnswerWriter(answer.public_id), limit_seconds=15)
    assert time.monotonic() - started < 5 and followed.cancelled, followed.error
