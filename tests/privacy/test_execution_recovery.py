"""Executions that stop: a lost run is taken over, a failure keeps what it did, officers retry."""

import datetime as dt
import io
import json
import zipfile

import pytest
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from chat.models import Conversation, SubjectMention
from privacy import archive, erasure, execution, purge
from privacy.models import SubjectRequest
from tests.api.test_rest import _client_of
from tests.privacy.conftest import SUBJECT_EMAIL, make_conversation, mention, receive, run

S = SubjectRequest.Status
EMAIL = SUBJECT_EMAIL


class WorkerKilled(BaseException):
    """The worker's process dies here: nothing after it runs, not even the failure path."""


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def _approved(officers, capture, *, execute=True, **fields) -> SubjectRequest:
    """A request recorded, verified and scoped by one officer, approved by the other;
    ``execute=False``: the task queued after the approval is lost (the broker was down)."""
    return run(receive(officers, **fields), officers, capture, execute=execute)


def _alices_erasure(org, officers, capture, **kwargs) -> SubjectRequest:
    return _approved(
        officers,
        capture,
        identifiers=[("email", org.alice.email)],
        subject_user=org.alice,
        **kwargs,
    )


def _kill_after_shredding(monkeypatch):
    """The worker dies right after a batch of the subject's conversations was shredded."""
    shred = purge.shred

    def shred_then_die(conversations):
        shred(conversations)
        raise WorkerKilled

    monkeypatch.setattr(purge, "shred", shred_then_die)


def _silence(request: SubjectRequest, minutes: float) -> None:
    """The run's heartbeat stopped ``minutes`` ago."""
    SubjectRequest.objects.filter(pk=request.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=minutes)
    )


def _events(request: SubjectRequest, action) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(target_id=str(request.public_id), action=action).order_by(
            "sequence"
        )
    )


# --- a lost worker --------------------------------------------------------------------


def test_a_run_whose_worker_died_is_taken_over_and_its_work_is_counted(
    org, officers, capture, monkeypatch
):
    """The redelivered task steps aside while the heartbeat is fresh (the worker may be alive);
    once it is stale, the sweep queues the request again and the task takes it over."""
    make_conversation(org.alice, org.internal)
    make_conversation(org.alice, org.internal)
    request = _alices_erasure(org, officers, capture, execute=False)
    _kill_after_shredding(monkeypatch)
    with pytest.raises(WorkerKilled):
        execution.execute(request.pk)
    monkeypatch.undo()
    request.refresh_from_db()
    assert request.status == S.EXECUTING and request.attempts == 1 and request.heartbeat_at
    assert not Conversation.objects.filter(owner=org.alice).exists()  # already shredded

    assert execution.execute(request.pk) is False  # Celery's redelivery: it is still beating
    assert execution.recover() == {"requeued": 0, "resumed": 0, "failed": 0}
    _silence(request, execution.STALE_AFTER.total_seconds() / 60 + 1)
    assert execution.recover() == {"requeued": 0, "resumed": 1, "failed": 0}  # eager task

    request.refresh_from_db()
    assert request.status == S.COMPLETED and request.attempts == 2
    assert request.receipt["counts"]["own_conversations"] == 2  # the lost attempt's work
    assert request.receipt["counts"]["account"] is True
    (lost,) = request.receipt["earlier_attempts"]
    assert lost["attempt"] == 1 and lost["outcome"] == "lost"
    (event,) = _events(request, AuditEvent.Action.DSR_FAILED)
    assert event.details["outcome"] == "lost" and event.details["resumed"] is True
    assert event.details["counts"] == {
        "own_conversations": 2,
        "own_messages": 4,
        "redacted_conversations": 0,
        "redacted_messages": 0,
        "index_rows": 0,
    }
    assert len(_events(request, AuditEvent.Action.DSR_EXECUTED)) == 1


def test_an_archive_is_built_again_whole_after_its_worker_died(org, officers, capture, monkeypatch):
    make_conversation(org.alice, org.internal, texts=("First plan", "OK"))
    make_conversation(org.alice, org.internal, texts=("Second plan", "OK"))
    request = _alices_erasure(
        org, officers, capture, execute=False, kind=SubjectRequest.Kind.ACCESS
    )
    build = archive._conversation
    calls = []

    def die_on_the_second(conversation):
        calls.append(conversation.pk)
        if len(calls) == 2:
            raise WorkerKilled
        return build(conversation)

    monkeypatch.setattr(archive, "_conversation", die_on_the_second)
    with pytest.raises(WorkerKilled):
        execution.execute(request.pk)
    monkeypatch.undo()
    _silence(request, 60)
    execution.recover()
    request.refresh_from_db()
    assert request.status == S.COMPLETED and request.receipt["counts"]["conversations"] == 2
    with zipfile.ZipFile(io.BytesIO(archive.open_archive(request))) as bundle:
        titles = [c["title"] for c in json.loads(bundle.read("data.json"))["conversations"]]
    assert sorted(titles) == ["First plan", "Second plan"]


def test_the_heartbeat_beats_as_progress_is_reported(org, officers, capture, monkeypatch):
    make_conversation(org.alice, org.internal)
    make_conversation(org.alice, org.internal)
    request = _alices_erasure(
        org, officers, capture, execute=False, kind=SubjectRequest.Kind.ACCESS
    )
    build = archive._conversation
    seen = []

    def look(conversation):
        seen.append(SubjectRequest.objects.get(pk=request.pk).heartbeat_at)
        _silence(request, 60)  # what the next progress report must renew
        return build(conversation)

    monkeypatch.setattr(archive, "_conversation", look)
    execution.execute(request.pk)
    recent = timezone.now() - dt.timedelta(seconds=30)
    assert len(seen) == 2 and all(beat > recent for beat in seen)


def test_a_worker_that_was_taken_over_stops_writing(org, officers, capture, monkeypatch):
    """Two workers never both finish a request: the one that lost it stops at its next report."""
    make_conversation(org.alice, org.internal)
    make_conversation(org.alice, org.internal)
    request = _alices_erasure(
        org, officers, capture, execute=False, kind=SubjectRequest.Kind.ACCESS
    )
    build = archive._conversation

    def taken_over_meanwhile(conversation):
        SubjectRequest.objects.filter(pk=request.pk).update(attempts=F("attempts") + 1)
        return build(conversation)

    monkeypatch.setattr(archive, "_conversation", taken_over_meanwhile)
    execution.execute(request.pk)
    request.refresh_from_db()
    assert request.status == S.EXECUTING and request.attempts == 2  # the other worker's now
    assert bytes(request.archive_sealed) == b"" and not request.receipt_hash
    assert not _events(request, AuditEvent.Action.DSR_EXECUTED)
    assert not _events(request, AuditEvent.Action.DSR_FAILED)


def test_the_sweep_queues_again_an_approved_request_whose_task_was_lost(org, officers, capture):
    request = _approved(officers, capture, execute=False)
    assert execution.recover()["requeued"] == 0  # just approved: its task may be on its way
    SubjectRequest.objects.filter(pk=request.pk).update(
        approved_at=timezone.now() - execution.REQUEUE_AFTER - dt.timedelta(seconds=5)
    )
    assert execution.recover()["requeued"] == 1
    request.refresh_from_db()
    assert request.status == S.COMPLETED


def test_a_run_lost_once_too_often_fails_with_its_reason_and_an_officer_runs_it_again(
    client, org, officers, capture, monkeypatch
):
    make_conversation(org.alice, org.internal)
    request = _alices_erasure(org, officers, capture, execute=False)
    SubjectRequest.objects.filter(pk=request.pk).update(attempts_allowed=1)
    _kill_after_shredding(monkeypatch)
    with pytest.raises(WorkerKilled):
        execution.execute(request.pk)
    monkeypatch.undo()
    _silence(request, 60)
    assert execution.recover() == {"requeued": 0, "resumed": 0, "failed": 1}

    request.refresh_from_db()
    assert request.status == S.FAILED and request.is_open  # still owed: on the desk
    assert "stopped 1 time" in request.error
    assert request.receipt["partial"] is True and request.receipt["outcome"] == "lost"
    (event,) = _events(request, AuditEvent.Action.DSR_FAILED)
    assert event.details["gave_up"] is True and event.details["counts"]["own_conversations"] == 1
    client.force_login(officers[0])
    assert request.reference.encode() in client.get("/privacy/").content
    page = client.get(f"/privacy/requests/{request.public_id}/").content
    assert b"Run again" in page and b"stopped 1 time" in page

    with capture(execute=True):
        client.post(f"/privacy/requests/{request.public_id}/retry/")
    request.refresh_from_db()
    assert request.status == S.COMPLETED and request.attempts == 2
    assert request.attempts_allowed == 1 + execution.MAX_ATTEMPTS
    assert request.receipt["counts"]["own_conversations"] == 1
    assert request.identifiers() == []  # dropped on completion, not before
    (retried,) = _events(request, AuditEvent.Action.DSR_RETRIED)
    assert retried.actor == officers[0] and retried.details["attempts"] == 1
    assert len(_events(request, AuditEvent.Action.DSR_APPROVED)) == 1  # one approval, once


# --- a failure ------------------------------------------------------------------------


def test_a_failed_erasure_records_what_it_already_erased(org, officers, capture, monkeypatch):
    """The subject's conversations were shredded, then closing the account failed: the partial
    record and the event say so (counts only); the identifiers stay for a retry."""
    make_conversation(org.alice, org.internal)
    make_conversation(org.alice, org.internal)

    def boom(user):
        raise RuntimeError("allauth table locked")

    monkeypatch.setattr(erasure, "erase_account", boom)
    request = _alices_erasure(org, officers, capture)
    assert request.status == S.FAILED and request.error.startswith("RuntimeError")
    assert request.receipt["partial"] is True and not request.receipt_hash
    assert request.receipt["counts"]["own_conversations"] == 2
    (event,) = _events(request, AuditEvent.Action.DSR_FAILED)
    assert event.details["counts"]["own_conversations"] == 2
    assert event.details["error"] == "RuntimeError" and event.details["attempt"] == 1
    assert org.alice.email not in json.dumps(event.details)
    assert request.identifiers() == [("email", org.alice.email)]

    monkeypatch.undo()
    with capture(execute=True):
        execution.retry(request=request, actor=officers[1])
    request.refresh_from_db()
    assert request.status == S.COMPLETED and request.receipt["counts"]["account"] is True
    assert request.receipt["counts"]["own_conversations"] == 2  # attempt 1's, kept
    assert request.receipt["earlier_attempts"][0]["outcome"] == "failed"


def test_a_failure_inside_the_erasure_counts_what_is_already_gone(
    org, officers, capture, monkeypatch
):
    """Stopped half-way through the redactions: the record counts what the redactions before
    the failure stored as they went (the erasure itself never returned)."""
    for owner in (org.alice, org.carol):
        conversation = make_conversation(owner, org.internal, texts=(f"Write to {EMAIL}", "OK"))
        mention(conversation, "EMAIL_ADDRESS", EMAIL)
    redact = erasure._redact_conversation
    calls = []

    def fail_the_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("decryption failed")
        return redact(*args)

    monkeypatch.setattr(erasure, "_redact_conversation", fail_the_second)
    request = _approved(officers, capture)
    assert request.status == S.FAILED, (request.receipt, calls)
    assert request.receipt["counts"] == {
        "own_conversations": 0,
        "own_messages": 0,
        "redacted_conversations": 1,
        "redacted_messages": 1,  # stored with the redaction
        "index_rows": 1,
    }
    assert request.receipt["progress_done"] == 1 and request.receipt["progress_total"] == 2
    assert SubjectMention.objects.filter(digest__in=request.digests).count() == 1


def test_only_a_failed_request_is_run_again(client, org, officers, capture):
    request = _approved(officers, capture)
    assert request.status == S.COMPLETED
    client.force_login(officers[0])
    refused = client.post(f"/privacy/requests/{request.public_id}/retry/", follow=True)
    assert b"Only a failed request" in refused.content
    api = _client_of(officers[0]).post(f"/api/privacy/requests/{request.public_id}/retry/")
    assert api.status_code == 400 and "Only a failed request" in api.content.decode()
    client.force_login(org.alice)
    assert client.post(f"/privacy/requests/{request.public_id}/retry/").status_code == 403
    assert not _events(request, AuditEvent.Action.DSR_RETRIED)
