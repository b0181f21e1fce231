"""The answer's status marks commit without waiting for the disk, and only they (PostgreSQL)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chat import answering, services
from chat.models import Message
from chat.services import queueing, sending

pytestmark = pytest.mark.skipif("connection.vendor != 'postgresql'")

RELAXED = "set_config('synchronous_commit', 'off', true)"


def _pending_answer(org, monkeypatch) -> Message:
    monkeypatch.setattr(sending, "enqueue_answer", lambda *args, **kwargs: True)
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    return services.send_message(conversation=conversation, author=org.alice, text="Hi").answer


def _waits_for_the_disk() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0] == "on"


def test_the_queued_mark_and_the_claim_relax_only_their_own_commit(
    transactional_db, org, monkeypatch
):
    answer = _pending_answer(org, monkeypatch)
    with CaptureQueriesContext(connection) as marking:
        queueing._mark_queued(answer.pk)
    assert RELAXED in marking[0]["sql"]
    assert Message.objects.get(pk=answer.pk).status == Message.Status.QUEUED
    assert _waits_for_the_disk()

    with CaptureQueriesContext(connection) as claiming:
        claimed, _ = answering._claim(answer.pk)
    assert RELAXED in claiming[0]["sql"]
    assert (claimed.pk, claimed.status, claimed.attempt) == (
        answer.pk,
        Message.Status.STREAMING,
        1,
    )
    assert claimed.conversation.owner == org.alice and claimed.backend == answer.backend
    assert _waits_for_the_disk()
    assert answering._claim(answer.pk) is None  # a second delivery finds nothing to claim


def test_inside_a_transaction_they_wait_like_it(transactional_db, org, monkeypatch):
    """Relaxed there, they would relax the whole transaction, audit events and all."""
    answer = _pending_answer(org, monkeypatch)
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        queueing._mark_queued(answer.pk)
        claimed, _ = answering._claim(answer.pk)
        assert _waits_for_the_disk()
    assert claimed.status == Message.Status.STREAMING
    assert not any(RELAXED in query["sql"] for query in captured)
