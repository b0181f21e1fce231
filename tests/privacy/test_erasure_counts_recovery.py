"""An erasure taken over after its worker died counts what the lost attempt redacted in other
people's conversations: once redacted, the values are gone, so the take-over finds nothing
left to redact there, and only what the lost attempt stored as it went can say what it did.

Each conversation's redaction commits together with the attempt's counts (as a purge's
batch commits its deletions with its counts), and a take-over starts from them."""

import pytest

from audit.models import AuditEvent
from chat.models import Conversation, SubjectMention
from privacy import erasure, execution
from privacy.models import SubjectRequest
from tests.privacy.conftest import SUBJECT_EMAIL, make_conversation, mention
from tests.privacy.test_execution_recovery import (
    WorkerKilled,
    _approved,
    _events,
    _silence,
)

EMAIL = SUBJECT_EMAIL


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def _mentioning(org, how_many: int) -> list[Conversation]:
    """Other people's conversations, each with two messages that name the subject."""
    made = []
    for number in range(how_many):
        owner = (org.alice, org.carol)[number % 2]
        texts = (f"Write to {EMAIL} about case {number}", f"Sure: {EMAIL} gets it today.")
        conversation = make_conversation(owner, org.internal, texts=texts)
        mention(conversation, "EMAIL_ADDRESS", EMAIL)
        made.append(conversation)
    return made


def _die_before_redacting(monkeypatch, number: int) -> None:
    """The worker dies as it comes to the ``number``-th conversation to redact: those
    before it are redacted and committed."""
    redact = erasure._redact_conversation
    calls = []

    def redact_or_die(*args):
        calls.append(1)
        if len(calls) == number:
            raise WorkerKilled
        return redact(*args)

    monkeypatch.setattr(erasure, "_redact_conversation", redact_or_die)


def _take_over(request: SubjectRequest) -> SubjectRequest:
    _silence(request, execution.STALE_AFTER.total_seconds() / 60 + 1)
    assert execution.recover()["resumed"] == 1  # eager: taken over and completed here
    return SubjectRequest.objects.get(pk=request.pk)


def test_the_take_over_counts_what_the_lost_attempt_redacted_in_other_conversations(
    client, org, officers, capture, monkeypatch
):
    _mentioning(org, 3)
    request = _approved(officers, capture, execute=False)
    _die_before_redacting(monkeypatch, 3)
    with pytest.raises(WorkerKilled):
        execution.execute(request.pk)
    monkeypatch.undo()
    assert SubjectMention.objects.filter(digest__in=request.digests).count() == 1  # 2 of 3 done

    request = _take_over(request)
    assert request.status == SubjectRequest.Status.COMPLETED and request.attempts == 2
    counts = request.receipt["counts"]
    assert (counts["redacted_conversations"], counts["redacted_messages"]) == (3, 6)
    assert counts["index_rows"] == 3
    (lost,) = request.receipt["earlier_attempts"]
    assert lost["counts"] == {
        "own_conversations": 0,
        "own_messages": 0,
        "redacted_conversations": 2,
        "redacted_messages": 4,
        "index_rows": 2,
    }
    (stopped,) = _events(request, AuditEvent.Action.DSR_FAILED)
    assert stopped.details["counts"]["redacted_messages"] == 4
    (executed,) = _events(request, AuditEvent.Action.DSR_EXECUTED)
    assert executed.details["counts"]["redacted_messages"] == 6
    assert executed.details["counts"]["redacted_conversations"] == 3
    client.force_login(officers[0])
    page = client.get(f"/privacy/requests/{request.public_id}/").content.decode()
    assert "6 messages redacted in 3 conversations" in page


def test_a_conversation_deleted_meanwhile_is_not_counted_as_redacted(
    org, officers, capture, monkeypatch
):
    """Its index rows went with it: measured from what is gone, it looked redacted."""
    first, _, third = _mentioning(org, 3)
    request = _approved(officers, capture, execute=False)
    _die_before_redacting(monkeypatch, 2)
    with pytest.raises(WorkerKilled):
        execution.execute(request.pk)
    monkeypatch.undo()
    third.delete()  # its owner deleted it before the take-over

    request = _take_over(request)
    (lost,) = request.receipt["earlier_attempts"]
    assert lost["counts"]["redacted_conversations"] == 1
    counts = request.receipt["counts"]
    assert (counts["redacted_conversations"], counts["redacted_messages"]) == (2, 4)
    assert not SubjectMention.objects.filter(digest__in=request.digests).exists()
    assert EMAIL not in "".join(m.content for m in first.messages.all())


def test_a_worker_that_lost_the_request_leaves_the_conversation_it_was_redacting(
    org, officers, capture, monkeypatch
):
    """Taken over while it redacted the second conversation, the worker's redaction rolls back
    with the count it could not store: the successor redacts it, and counts it once."""
    _, second = _mentioning(org, 2)
    request = _approved(officers, capture, execute=False)
    redact = erasure._redact_conversation

    def taken_over_meanwhile(conversation, *args):
        if conversation.pk == second.pk:
            SubjectRequest.objects.filter(pk=request.pk).update(attempts=5)
        return redact(conversation, *args)

    monkeypatch.setattr(erasure, "_redact_conversation", taken_over_meanwhile)
    assert execution.execute(request.pk) is True  # it stepped aside
    assert SubjectMention.objects.filter(conversation=second).exists()
    assert EMAIL in second.messages.order_by("pk").first().content
    stored = SubjectRequest.objects.get(pk=request.pk).redaction_counts
    assert stored == {"redacted_conversations": 1, "redacted_messages": 2, "index_rows": 1}
