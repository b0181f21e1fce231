"""A purge run is carried out by the one worker that claimed it: Celery's copies of its task
(every task is delivered again after the visibility timeout while it still runs) step
aside, a run whose worker died is taken over and goes on from its counts, and each run is
in the audit trail once, with what it deleted."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from chat.models import Conversation, Message
from privacy import purge, tasks
from privacy.models import PurgeRun
from tests.privacy.conftest import make_conversation


class WorkerKilled(BaseException):
    """The worker's process dies here: nothing after it runs, not even the failure path."""


@pytest.fixture
def expired(org):
    """One expired internal conversation (its category is purged first), three confidential."""
    make_conversation(org.alice, org.internal, days_idle=40)
    for _ in range(3):
        make_conversation(org.carol, org.confidential, days_idle=10)
    return {
        org.internal.name: {"conversations": 1, "messages": 2},
        org.confidential.name: {"conversations": 3, "messages": 6},
    }


def _events():
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.RETENTION_PURGED))


def _silence(run: PurgeRun) -> None:
    """The run's heartbeat stopped longer ago than a live worker's can."""
    PurgeRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(seconds=purge.STALE_AFTER_SECONDS + 1)
    )


def _numbers(details: dict):
    """Every number of an event's details, however deep."""
    for value in details.values():
        if isinstance(value, dict):
            yield from _numbers(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            yield value


def test_a_copy_of_the_task_steps_aside_while_another_worker_holds_the_run(expired):
    run = purge.start()  # "Purge now"
    PurgeRun.objects.filter(pk=run.pk).update(attempts=1, heartbeat_at=timezone.now())

    tasks.purge_expired(run.pk)  # the broker's copy, 30 s in, while the first one beats

    assert Conversation.objects.count() == 4
    assert not _events()
    row = PurgeRun.objects.get(pk=run.pk)
    assert row.status == PurgeRun.Status.RUNNING and row.attempts == 1
    assert row.done_conversations == 0 and row.counts == {}


def test_a_copy_delivered_while_the_run_goes_neither_runs_it_again_nor_audits_less_than_nothing(
    expired, monkeypatch
):
    """The copy arrived between two batches. It ran the whole purge again from zero, and
    finished it: the first copy then audited its own counts minus the finished row's, which
    were negative, and said it had gone on after being marked interrupted."""
    run = purge.start()
    delete_batch, copies = purge._delete_batch, []

    def delivered_again_after_the_first_batch(*args):
        deleted = delete_batch(*args)
        if not copies:
            copies.append(tasks.purge_expired(run.pk))
        return deleted

    monkeypatch.setattr(purge, "_delete_batch", delivered_again_after_the_first_batch)
    tasks.purge_expired(run.pk)

    assert copies and Conversation.objects.count() == 0
    row = PurgeRun.objects.get(pk=run.pk)
    assert row.status == PurgeRun.Status.DONE and row.errors == []
    assert row.counts == expired
    assert row.done_conversations == row.total_conversations == 4
    assert row.deleted_messages == 8
    (event,) = _events()
    assert event.details["counts"] == expired
    assert event.details["conversations"] == 4 and event.details["messages"] == 8
    assert min(_numbers(event.details)) >= 0


def test_a_run_whose_worker_was_killed_goes_on_from_its_counts_and_is_audited_once(
    org, expired, monkeypatch
):
    for _ in range(4):
        make_conversation(org.alice, org.internal, days_idle=40)  # 5 internal in all
    run = purge.start()
    delete_batch, batches = purge._delete_batch, []

    def killed_before_the_third_batch(*args):
        batches.append(1)
        if len(batches) == 3:
            raise WorkerKilled
        return delete_batch(*args)

    monkeypatch.setattr(purge, "_delete_batch", killed_before_the_third_batch)
    with pytest.raises(WorkerKilled):
        purge.run(run, batch_size=2)
    monkeypatch.undo()
    killed = PurgeRun.objects.get(pk=run.pk)
    assert killed.done_conversations == 4 and Conversation.objects.count() == 4

    tasks.purge_expired(run.pk)  # delivered again while it may still be alive: aside
    assert Conversation.objects.count() == 4
    _silence(run)
    tasks.purge_expired(run.pk)  # and once its heartbeat is stale: taken over

    assert Conversation.objects.count() == 0 and Message.objects.count() == 0
    row = PurgeRun.objects.get(pk=run.pk)
    assert row.status == PurgeRun.Status.DONE and row.attempts == 2 and row.errors == []
    assert row.counts == {
        org.internal.name: {"conversations": 5, "messages": 10},
        org.confidential.name: {"conversations": 3, "messages": 6},
    }
    assert row.done_conversations == row.total_conversations == 8
    assert row.deleted_messages == 16
    (event,) = _events()
    assert event.details["conversations"] == 8 and event.details["messages"] == 16
    assert event.details["counts"] == row.counts and event.details["attempts"] == 2


def test_a_worker_whose_run_was_taken_over_deletes_and_writes_nothing_more(expired):
    """Silent too long (a stalled database), the first worker lost the run to another;
    when it comes back, its next batch sees that and stops, rolled back whole."""
    first = purge.claim(purge.start().pk)
    _silence(first)
    second = purge.claim(first.pk)
    assert second.attempts == 2

    stopped = purge.run(first)

    assert Conversation.objects.count() == 4 and not _events()
    assert stopped.status == PurgeRun.Status.RUNNING and stopped.attempts == 2
    assert stopped.done_conversations == 0 and stopped.counts == {}
    done = purge.run(second)
    assert done.status == PurgeRun.Status.DONE and done.counts == expired
    assert len(_events()) == 1


def test_the_sweep_queues_again_a_run_whose_worker_was_lost(expired, monkeypatch):
    run = purge.start()
    PurgeRun.objects.filter(pk=run.pk).update(attempts=1, heartbeat_at=timezone.now())
    assert purge.recover() == 0  # still beating: its worker may be alive
    _silence(run)
    assert purge.recover() == 1  # eager: taken over and finished here

    row = PurgeRun.objects.get(pk=run.pk)
    assert row.status == PurgeRun.Status.DONE and row.attempts == 2
    assert Conversation.objects.count() == 0 and len(_events()) == 1
    assert purge.recover() == 0


def test_a_run_lost_too_often_is_left_to_the_next_run_to_mark_interrupted(expired):
    run = purge.start()
    PurgeRun.objects.filter(pk=run.pk).update(attempts=purge.MAX_ATTEMPTS)
    _silence(run)
    assert purge.recover() == 0 and purge.claim(run.pk) is None

    purge.run(purge.start())
    assert PurgeRun.objects.get(pk=run.pk).status == PurgeRun.Status.INTERRUPTED
    assert Conversation.objects.count() == 0


def test_the_sweep_runs_a_purge_now_whose_task_was_lost(expired):
    """The broker was down when "Purge now" queued it: no worker ever claimed it."""
    run = purge.start()
    assert purge.recover() == 0
    _silence(run)
    assert purge.recover() == 1
    assert PurgeRun.objects.get(pk=run.pk).status == PurgeRun.Status.DONE


def test_copies_of_a_retry_start_one_run(expired, monkeypatch):
    """A retry waits 15 minutes: longer than the visibility timeout, so the broker hands a
    copy of it to a worker every 30 s until then. The first starts a run, the others see a
    run started after the failed one and step aside."""
    failed = PurgeRun.objects.create(status=PurgeRun.Status.FAILED, finished_at=timezone.now())

    tasks.purge_expired(attempt=1, after=failed.pk)
    tasks.purge_expired(attempt=1, after=failed.pk)

    assert PurgeRun.objects.count() == 2 and Conversation.objects.count() == 0
    assert len(_events()) == 1
