"""An erasure taken over after its worker died: the receipt counts what every attempt erased,
messages as well as conversations."""

import pytest

from audit.models import AuditEvent
from chat.models import Conversation, Message
from privacy import execution, purge
from privacy.models import SubjectRequest
from tests.privacy.conftest import make_conversation
from tests.privacy.test_execution_recovery import (
    WorkerKilled,
    _alices_erasure,
    _events,
    _silence,
)


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def test_the_receipt_counts_the_messages_a_lost_attempt_erased(org, officers, capture, monkeypatch):
    for texts in (("One", "Two"), ("Three", "Four", "Five", "Six"), ("Seven", "Eight")):
        make_conversation(org.alice, org.internal, texts=texts)
    request = _alices_erasure(org, officers, capture, execute=False)
    monkeypatch.setattr(purge, "BATCH_CONVERSATIONS", 2)
    shred = purge.shred

    def shred_then_die(conversations):
        shred(conversations)
        raise WorkerKilled

    monkeypatch.setattr(purge, "shred", shred_then_die)
    with pytest.raises(WorkerKilled):
        execution.execute(request.pk)
    monkeypatch.undo()
    assert Conversation.objects.filter(owner=org.alice).count() == 1  # two of three went
    assert Message.objects.filter(conversation__owner=org.alice).count() == 2

    _silence(request, execution.STALE_AFTER.total_seconds() / 60 + 1)
    assert execution.recover()["resumed"] == 1  # eager: taken over and completed here

    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.COMPLETED and request.attempts == 2
    assert request.receipt["counts"]["own_conversations"] == 3
    assert request.receipt["counts"]["own_messages"] == 8
    (lost,) = request.receipt["earlier_attempts"]
    assert lost["counts"] == {
        "own_conversations": 2,
        "own_messages": 6,
        "redacted_conversations": 0,
        "redacted_messages": 0,
        "index_rows": 0,
    }
    (executed,) = _events(request, AuditEvent.Action.DSR_EXECUTED)
    assert executed.details["counts"]["own_messages"] == 8
