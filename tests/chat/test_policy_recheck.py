"""The worker asks the policy again before the question leaves.

The backend is chosen when the message is sent; the worker may call it much later (the
broker was down and the sweeper re-queued the answer, or a worker died and another took
it over). By then a policy admin may have reclassified the backend, withdrawn its approval
or blocked the category: the answer fails with a Retry, and nothing is sent.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from chat import answering, services
from chat.models import Message
from governance.models import Approval, Backend, Category, HostingClass, PolicyVersion

EMAIL = "jane.roe@example.org"
CHANGED = "The policy changed after this question was sent: Local Ollama may no longer answer it."


def _queued(org, django_capture_on_commit_callbacks):
    """Carol's category-3 question, its answer queued for the local model (not yet run)."""
    conversation = services.start_conversation(owner=org.carol, category=org.confidential)
    with django_capture_on_commit_callbacks(execute=False):  # the broker is slow, or down
        sent = services.send_message(
            conversation=conversation, author=org.carol, text=f"Summarise {EMAIL}'s file"
        )
    assert sent.answer.backend.name == "Local Ollama"
    return sent.answer


def _reclassify_local_as_external():
    Backend.objects.filter(name="Local Ollama").update(hosting_class=HostingClass.EXTERNAL_API)


def _withdraw_local_approval(org):
    Approval.objects.filter(backend__name="Local Ollama", category=org.confidential).delete()


def _block_category_3(org):
    Category.objects.filter(pk=org.confidential.pk).update(blocks_all=True)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda org: _reclassify_local_as_external(), id="reclassified-external"),
        pytest.param(_withdraw_local_approval, id="approval-withdrawn"),
        pytest.param(_block_category_3, id="category-blocked"),
    ],
)
def test_it_sends_a_queued_answer_nowhere_the_policy_no_longer_allows(
    org, django_capture_on_commit_callbacks, change
):
    answer = _queued(org, django_capture_on_commit_callbacks)
    change(org)
    answering.generate_answer(answer.pk)
    assert org.local.requests == [] and org.external.requests == []
    answer.refresh_from_db()
    assert (answer.status, answer.error, answer.error_kind) == (
        Message.Status.FAILED,
        CHANGED,
        Message.CHANGED,
    )


def test_it_records_the_refusal_as_a_failure_without_the_text(
    org, django_capture_on_commit_callbacks
):
    answer = _queued(org, django_capture_on_commit_callbacks)
    _reclassify_local_as_external()
    answering.generate_answer(answer.pk)
    event = AuditEvent.objects.get(action=AuditEvent.Action.CHAT_FAILURE)
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.details == {
        "category_number": 3,
        "stage": "policy",
        "kind": "changed",
        "message": str(answer.public_id),
    }
    assert EMAIL not in str(event.details) + event.message


def test_it_sends_nothing_when_it_takes_over_an_answer_after_the_policy_changed(
    org, django_capture_on_commit_callbacks
):
    """A worker died mid-answer; before another takes it over, the approval is withdrawn."""
    answer = _queued(org, django_capture_on_commit_callbacks)
    Message.objects.filter(pk=answer.pk).update(
        status=Message.Status.STREAMING,
        started_at=timezone.now() - timedelta(seconds=30),
        attempt=1,
    )
    _withdraw_local_approval(org)
    answering.generate_answer(answer.pk)  # the redelivery, or the sweeper's re-queue
    assert org.local.requests == []
    answer.refresh_from_db()
    assert (answer.status, answer.attempt, answer.error) == (Message.Status.FAILED, 2, CHANGED)


def test_a_retry_governs_the_question_again_under_todays_policy(
    org, django_capture_on_commit_callbacks
):
    answer = _queued(org, django_capture_on_commit_callbacks)
    _reclassify_local_as_external()
    answering.generate_answer(answer.pk)
    answer.refresh_from_db()
    with pytest.raises(services.ChatError, match="No approved backend is available"):
        services.retry_answer(answer=answer, author=org.carol)  # nothing may serve category 3
    assert org.local.requests == []

    Backend.objects.filter(name="Local Ollama").update(hosting_class=HostingClass.ON_PREM)
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_answer(answer=answer, author=org.carol)
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE
    assert len(org.local.requests) == 1


def test_the_check_reads_the_policy_version_once_and_the_cached_snapshot(
    org, django_capture_on_commit_callbacks
):
    answer = _queued(org, django_capture_on_commit_callbacks)  # the send cached the snapshot
    with CaptureQueriesContext(connection) as queries:
        answering.generate_answer(answer.pk)
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE
    read = [q["sql"] for q in queries]
    (version_read,) = [sql for sql in read if PolicyVersion._meta.db_table in sql]
    if connection.vendor == "postgresql":  # by the claim itself: no round trip more
        assert version_read.startswith("WITH claimed")
    assert not [sql for sql in read if Approval._meta.db_table in sql]
