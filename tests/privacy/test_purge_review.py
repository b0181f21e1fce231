"""The retention purge as a compliance officer shows it to a regulator: what is expired goes
entirely (text, title, mapping, index rows, the answer's stream), exactly at the window's
end, never while held; every run, even one killed half-way, is in the audit trail."""

import datetime as dt
import importlib
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from chat import streams
from chat.models import Conversation, Message, SubjectMention
from governance.models import Category
from privacy import purge, services
from privacy.models import LegalHold, PurgeRun
from tests.privacy.conftest import (
    confirm,
    make_conversation,
    mention,
    release,
    while_first_is_slow_to_commit,
)


def _left():
    return set(Conversation.objects.values_list("pk", flat=True))


def _set_window(category, days):
    Category.objects.filter(pk=category.pk).update(retention_days=days)


# --- what goes --------------------------------------------------------------------------


def test_everything_of_a_purged_conversation_goes_and_the_event_holds_no_content(org):
    conversation = make_conversation(
        org.alice, org.internal, days_idle=31, texts=("Jane Roe's salary", "It is 90k")
    )
    conversation.set_pseudonyms({"[EMAIL_1]": "jane.roe@example.org"})
    conversation.save(update_fields=["pseudonyms_sealed"])
    mention(conversation, "EMAIL_ADDRESS", "jane.roe@example.org")
    public_id = conversation.public_id

    run = purge.run(purge.start())

    assert run.status == PurgeRun.Status.DONE
    assert not Conversation.objects.filter(public_id=public_id).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert not SubjectMention.objects.filter(conversation_id=conversation.pk).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_PURGED)
    written = json.dumps([event.details, event.before, event.after, event.message])
    for content in ("Jane", "90k", "salary", "jane.roe", "Roe"):
        assert content not in written
    assert event.details["conversations"] == 1 and event.details["messages"] == 2


def test_it_drops_the_stream_of_an_answer_that_ended_just_before_the_purge(
    org, django_capture_on_commit_callbacks
):
    """A stream keeps an ended answer's text in clear for five minutes; a window of 0 days
    (or a category that stopped storing content) purges such a conversation at once, and
    the answer's words must not stay behind in Redis once the row is gone."""
    _set_window(org.internal, 0)
    conversation = make_conversation(org.alice, org.internal, days_idle=0.001)
    answer = conversation.messages.get(role=Message.Role.ASSISTANT)
    Message.objects.filter(pk=answer.pk).update(
        finished_at=timezone.now() - dt.timedelta(seconds=30)
    )
    writer = streams.AnswerWriter(answer.public_id)
    writer.start()
    writer.chunk("Jane Roe earns 90k")
    writer.end("done")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = purge.run(purge.start())
        assert run.done_conversations == 1
        assert conversation.pk not in _left()
        assert streams.text_of(answer.public_id) == ""
    finally:
        streams.forget(answer.public_id)


@pytest.mark.parametrize("beat_after_the_purge", [False, True])
def test_a_purge_during_a_streaming_answer_leaves_nothing_of_it_anywhere(
    org, django_capture_on_commit_callbacks, monkeypatch, beat_after_the_purge
):
    """The worker is stopped at its next chunk; it writes nothing back (no row comes
    back, no text in Redis) and the purge's event is the only trace, with counts. A
    heartbeat between the purge and the worker's stop brings back no key of it either
    (it did: its last-seen key; the 2 s heartbeat fell there once in a while)."""
    from chat import answering
    from chat import services as chat
    from chat.answering import liveness, production

    monkeypatch.setattr(production, "CANCEL_POLL_SECONDS", 0)  # the flag looked at every chunk
    org.local.reply = ["Jane Roe ", "earns ", "90k", "."]
    org.local.delay = 0.05
    _set_window(org.confidential, 0)
    conversation = chat.start_conversation(owner=org.carol, category=org.confidential)
    with django_capture_on_commit_callbacks(execute=False):  # queued, not yet answered
        sent = chat.send_message(conversation=conversation, author=org.carol, text="Jane's pay?")
    chunk = streams.AnswerWriter.chunk
    purged = []

    def chunk_then_purge(self, text):
        chunk(self, text)
        if not purged:
            with django_capture_on_commit_callbacks(execute=True):
                purged.append(purge.run(purge.start()))
            if beat_after_the_purge:
                liveness._heartbeats.beat_once()  # the process's heartbeat, due just then

    monkeypatch.setattr(streams.AnswerWriter, "chunk", chunk_then_purge)
    try:
        answering.generate_answer(sent.answer.pk)
        assert purged[0].done_conversations == 1
        assert not Conversation.objects.filter(pk=conversation.pk).exists()
        assert not Message.objects.filter(pk__in=[sent.message.pk, sent.answer.pk]).exists()
        assert streams.text_of(sent.answer.public_id) == ""
        left = streams.client().keys(f"*{sent.answer.public_id}*")
        assert left == [streams.cancel_key(sent.answer.public_id).encode()]  # "1", expiring
    finally:
        streams.forget(sent.answer.public_id)


# --- boundaries -------------------------------------------------------------------------


def test_a_conversation_exactly_at_the_window_end_stays_and_a_moment_older_goes(org):
    now = timezone.now()
    cutoff = now - dt.timedelta(days=30)
    at_the_end = make_conversation(org.alice, org.internal)
    just_past = make_conversation(org.alice, org.internal)
    Conversation.objects.filter(pk=at_the_end.pk).update(last_activity_at=cutoff)
    Conversation.objects.filter(pk=just_past.pk).update(
        last_activity_at=cutoff - dt.timedelta(microseconds=1)
    )
    purge.run(purge.start(), now=now)
    assert _left() == {at_the_end.pk}


def test_the_window_is_counted_in_whole_days_of_24_hours_across_a_dst_change(settings):
    """A week back from a Monday after the spring change is 168 hours, whatever zone the
    moment is given in (Python's arithmetic on a zoned time is by the wall clock: 167)."""
    from zoneinfo import ZoneInfo

    from privacy.policy import expiry_cutoff

    settings.TIME_ZONE = "Europe/Paris"
    local_now = dt.datetime(2026, 3, 30, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    utc_now = local_now.astimezone(dt.UTC)
    cutoff = expiry_cutoff(local_now, 7)
    assert utc_now - cutoff.astimezone(dt.UTC) == dt.timedelta(hours=168)
    assert cutoff == expiry_cutoff(utc_now, 7)


def test_a_shortened_window_purges_at_the_next_run_and_a_lengthened_one_keeps(org):
    twenty_days = make_conversation(org.alice, org.internal, days_idle=20)
    forty_days = make_conversation(org.alice, org.internal, days_idle=40)
    _set_window(org.internal, 60)
    purge.run(purge.start())
    assert {twenty_days.pk, forty_days.pk} <= _left()
    _set_window(org.internal, 10)
    purge.run(purge.start())
    assert twenty_days.pk not in _left() and forty_days.pk not in _left()


def test_a_window_lengthened_while_a_run_goes_keeps_what_it_no_longer_expires(org, monkeypatch):
    """A run takes its batches one at a time: a batch that starts after a policy admin
    lengthened the window deletes under the new window, not the one the run started with."""
    for _ in range(5):
        make_conversation(org.alice, org.internal, days_idle=40)
    real_beat = purge._beat

    def lengthened_after_the_first_batch(*args):
        real_beat(*args)
        _set_window(org.internal, 60)

    monkeypatch.setattr(purge, "_beat", lengthened_after_the_first_batch)
    run = purge.run(purge.start(), batch_size=2)
    assert run.status == PurgeRun.Status.DONE
    assert run.done_conversations == 2
    assert Conversation.objects.count() == 3


def test_a_conversation_moved_to_a_category_with_a_shorter_window_goes_by_that_window(org):
    conversation = make_conversation(org.carol, org.internal, days_idle=10)
    purge.run(purge.start())
    assert conversation.pk in _left()  # Internal keeps 30 days
    Conversation.objects.filter(pk=conversation.pk).update(category=org.confidential)
    purge.run(purge.start())
    assert conversation.pk not in _left()  # Confidential keeps 7


def test_a_window_of_zero_days_purges_all_content_stored_before_the_run(org):
    _set_window(org.internal, 0)
    conversation = make_conversation(org.alice, org.internal, days_idle=0.0001)
    public = make_conversation(org.alice, org.public, days_idle=0.0001)
    purge.run(purge.start())
    assert conversation.pk not in _left() and public.pk in _left()


def test_a_retired_categorys_expired_conversations_are_still_purged(org):
    """Retiring a category (no new conversations) does not stop its window."""
    conversation = make_conversation(org.alice, org.internal, days_idle=31)
    Category.objects.filter(pk=org.internal.pk).update(is_active=False)
    assert purge.preview().conversations == 1
    purge.run(purge.start())
    assert conversation.pk not in _left()


# --- legal holds ------------------------------------------------------------------------


def test_a_held_conversation_stays_however_old_and_goes_at_the_run_after_release(org, officers):
    conversation = make_conversation(org.alice, org.internal, days_idle=3650)
    services.place_hold(actor=officers[0], reason="Case 12", conversation=conversation)
    for _ in range(2):
        purge.run(purge.start())
        assert conversation.pk in _left()
    hold = LegalHold.objects.get(conversation=conversation, released_at__isnull=True)
    release(hold, asked_by=officers[0], confirmed_by=officers[1], reason="Case closed")
    run = purge.run(purge.start())
    assert conversation.pk not in _left() and run.done_conversations == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_two_holds_on_a_conversation_released_at_once_leave_it_to_the_next_purge(
    org, officers, monkeypatch
):
    """Each release looked for the other's hold before either had committed: both saw one
    still active, neither cleared the conversation's flag, and the purge, reading the
    flag, kept it forever under no hold at all."""
    conversation = make_conversation(org.alice, org.internal, days_idle=100)
    first = services.place_hold(actor=officers[0], reason="Case 20", conversation=conversation)
    second = services.place_hold(actor=officers[0], reason="Case 21", conversation=conversation)
    for hold in (first, second):
        services.ask_release(hold=hold, actor=officers[0], reason="Settled")
    outcomes = while_first_is_slow_to_commit(
        monkeypatch,
        lambda: confirm(first, officers[1]),
        lambda: confirm(second, officers[1]),
    )
    assert outcomes == {"first": "done", "then": "done"}

    assert not LegalHold.objects.filter(conversation=conversation, released_at=None).exists()
    assert not Conversation.objects.get(pk=conversation.pk).legal_hold
    purge.run(purge.start())
    assert conversation.pk not in _left()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_a_hold_placed_while_another_is_released_keeps_the_conversation(org, officers, monkeypatch):
    """The release looked for other holds before the new one had committed, saw none, and
    cleared the flag after it: the conversation stood under an active hold with its flag
    off, and the purge, reading the flag, deleted it."""
    conversation = make_conversation(org.alice, org.internal, days_idle=100)
    old = services.place_hold(actor=officers[0], reason="Case 23", conversation=conversation)
    services.ask_release(hold=old, actor=officers[0], reason="Settled")
    outcomes = while_first_is_slow_to_commit(
        monkeypatch,
        lambda: services.place_hold(actor=officers[0], reason="Case 24", conversation=conversation),
        lambda: confirm(old, officers[1]),
    )
    assert outcomes == {"first": "done", "then": "done"}

    assert LegalHold.objects.filter(conversation=conversation, released_at=None).count() == 1
    assert Conversation.objects.get(pk=conversation.pk).legal_hold
    purge.run(purge.start())
    assert conversation.pk in _left()


def test_the_purge_goes_by_the_holds_themselves_not_the_conversations_flag(org, officers):
    """The flag on the conversation only mirrors its holds: one left set with no hold
    active keeps nothing, and an active hold keeps the conversation whatever the flag."""
    stale_flag = make_conversation(org.alice, org.internal, days_idle=100)
    Conversation.objects.filter(pk=stale_flag.pk).update(legal_hold=True)
    held = make_conversation(org.alice, org.internal, days_idle=100)
    services.place_hold(actor=officers[0], reason="Case 22", conversation=held)
    Conversation.objects.filter(pk=held.pk).update(legal_hold=False)
    assert purge.preview().held == 1
    purge.run(purge.start())
    assert _left() == {held.pk}


def test_a_batch_a_new_hold_keeps_whole_does_not_end_the_categorys_purge(
    org, officers, monkeypatch
):
    """A hold placed on a person between a batch's choice and its deletion keeps the whole
    batch (0 deleted): the run went on to the next category, and the category's other
    expired conversations stayed a day more."""
    carols = [make_conversation(org.carol, org.internal, days_idle=40) for _ in range(2)]
    alices = [make_conversation(org.alice, org.internal, days_idle=40) for _ in range(3)]
    real_delete_batch = purge._delete_batch

    def hold_placed_meanwhile(ids, category, now):
        if not LegalHold.objects.exists():
            services.place_hold(actor=officers[0], reason="Case 25", user=org.carol)
        return real_delete_batch(ids, category, now)

    monkeypatch.setattr(purge, "_delete_batch", hold_placed_meanwhile)
    run = purge.run(purge.start(), batch_size=2)
    assert run.done_conversations == 3
    assert _left() == {c.pk for c in carols}
    assert not {c.pk for c in alices} & _left()


def test_the_run_and_its_event_say_how_many_expired_conversations_holds_kept(org, officers):
    conversation = make_conversation(org.alice, org.internal, days_idle=100)
    make_conversation(org.alice, org.internal, days_idle=100)
    services.place_hold(actor=officers[0], reason="Case 13", conversation=conversation)
    run = purge.run(purge.start())
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_PURGED)
    assert event.details["held"] == 1
    assert event.details["windows"][org.internal.name] == 30
    assert run.done_conversations == 1


# --- failures and concurrency -----------------------------------------------------------


def test_a_run_killed_half_way_is_in_the_audit_trail_once_the_next_run_finds_it(org, monkeypatch):
    """A killed worker writes no event: what its batches deleted must still be audited,
    by the run that marks it interrupted."""
    for _ in range(5):
        make_conversation(org.alice, org.internal, days_idle=40)
    real_beat = purge._beat
    calls = []

    def killed_after_two_batches(*args):
        calls.append(1)
        if len(calls) == 3:  # in the third, before it commits (with its counts)
            raise KeyboardInterrupt  # like SIGKILL: no except clause runs
        real_beat(*args)

    monkeypatch.setattr(purge, "_beat", killed_after_two_batches)
    first = purge.start()
    with pytest.raises(KeyboardInterrupt):
        purge.run(first, batch_size=2)
    monkeypatch.setattr(purge, "_beat", real_beat)
    PurgeRun.objects.filter(pk=first.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(seconds=purge.STALE_AFTER_SECONDS + 1)
    )
    purge.run(purge.start(), batch_size=2)

    events = AuditEvent.objects.filter(action=AuditEvent.Action.RETENTION_PURGED)
    interrupted = events.get(target_id=str(first.public_id))
    assert interrupted.outcome == AuditEvent.Outcome.FAILURE
    assert interrupted.details["conversations"] == 4 and interrupted.details["messages"] == 8
    assert interrupted.details["counts"] == {org.internal.name: {"conversations": 4, "messages": 8}}
    first.refresh_from_db()
    assert first.status == PurgeRun.Status.INTERRUPTED and first.errors
    assert sum(event.details["conversations"] for event in events) == 5


def test_a_database_error_mid_batch_deletes_nothing_of_it_and_the_run_is_recorded_failed(org):
    """The index rows and messages are deleted, then the conversations' delete fails: the
    batch rolls back whole, the run is recorded failed, and the next run purges it."""
    from django.db import DatabaseError

    conversation = make_conversation(org.alice, org.internal, days_idle=40)
    mention(conversation, "EMAIL_ADDRESS", "jane@example.org")

    def fails_at_the_conversations(execute, sql, params, many, context):
        if sql.startswith("DELETE FROM chat_conversation"):
            raise DatabaseError("connection lost")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fails_at_the_conversations):
        run = purge.run(purge.start())
    assert run.status == PurgeRun.Status.FAILED and "connection lost" in run.errors[0]
    assert conversation.pk in _left()
    assert conversation.messages.count() == 2
    assert SubjectMention.objects.filter(conversation_id=conversation.pk).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_PURGED)
    assert event.outcome == AuditEvent.Outcome.FAILURE and event.details["conversations"] == 0

    assert purge.run(purge.start()).status == PurgeRun.Status.DONE
    assert conversation.pk not in _left()


def test_beat_steps_aside_while_a_purge_from_the_shell_runs(org, monkeypatch):
    from privacy.tasks import purge_expired

    make_conversation(org.alice, org.internal, days_idle=40)
    manual = purge.start()
    purge_expired.delay()  # beat's, while the shell's run is alive
    assert PurgeRun.objects.count() == 1 and len(_left()) == 1
    assert purge.run(manual).done_conversations == 1


def test_a_failed_scheduled_run_is_tried_again_soon_not_a_day_later(org, monkeypatch):
    """Beat runs the purge once a day: a run failed by a passing database error would
    leave expired content a day longer. The task runs again a little later."""
    from django.db import DatabaseError

    from privacy import tasks

    conversation = make_conversation(org.alice, org.internal, days_idle=40)
    later = []
    real_apply_async = tasks.purge_expired.apply_async

    def noted(*args, **kwargs):
        if "countdown" in kwargs:  # the retry (delay() comes this way too)
            later.append(kwargs["countdown"])
        return real_apply_async(*args, **kwargs)  # eager: at once

    monkeypatch.setattr(tasks.purge_expired, "apply_async", noted)
    failures = []

    def fails_once(execute, sql, params, many, context):
        if sql.startswith("DELETE FROM chat_conversation") and not failures:
            failures.append(1)
            raise DatabaseError("deadlock detected")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fails_once):
        tasks.purge_expired.delay()
    assert later == [tasks.PURGE_RETRY_SECONDS]
    statuses = list(PurgeRun.objects.order_by("started_at").values_list("status", flat=True))
    assert statuses == [PurgeRun.Status.FAILED, PurgeRun.Status.DONE]
    assert conversation.pk not in _left()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_neither_deadlock_nor_delete_or_audit_anything_twice(org):
    """Only one run is RUNNING, but one marked interrupted may still be going (a stalled
    worker) while the next runs: their batches skip each other's rows, the interrupted
    one stops at its next heartbeat, and the audit trail counts each deletion once."""
    import threading

    for _ in range(12):
        make_conversation(org.alice, org.internal, days_idle=40)
    runs = [purge.start(), PurgeRun.objects.create(status=PurgeRun.Status.INTERRUPTED)]
    go, outcomes = threading.Barrier(2), {}

    def run(index):
        try:
            go.wait(10)
            outcomes[index] = purge.run(runs[index], batch_size=2)
        except Exception as exc:  # pragma: no cover - the failure is the assertion below
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert all(isinstance(done, PurgeRun) for done in outcomes.values()), outcomes
    assert outcomes[0].status == PurgeRun.Status.DONE
    assert outcomes[1].status == PurgeRun.Status.INTERRUPTED
    assert outcomes[1].done_conversations <= 2  # one batch at most, then it saw it was lost
    assert sum(done.done_conversations for done in outcomes.values()) == 12
    assert Conversation.objects.count() == 0
    events = AuditEvent.objects.filter(action=AuditEvent.Action.RETENTION_PURGED)
    assert sum(event.details["conversations"] for event in events) == 12


def test_a_run_marked_interrupted_while_still_going_is_not_counted_twice(org, monkeypatch):
    """Silent past STALE_AFTER_SECONDS (a stalled database), a run is marked interrupted
    by the next, which audits what it had deleted and purges the rest. When the first
    goes on, it stays interrupted and audits only what it deleted after."""
    for _ in range(6):
        make_conversation(org.alice, org.internal, days_idle=40)
    real_beat = purge._beat
    second = []

    def overtaken_after_the_first_batch(run, *args):
        real_beat(run, *args)
        if not second:
            second.append(None)
            PurgeRun.objects.filter(pk=run.pk).update(
                heartbeat_at=timezone.now() - dt.timedelta(seconds=purge.STALE_AFTER_SECONDS + 1)
            )
            second[0] = purge.run(purge.start(), batch_size=2)

    monkeypatch.setattr(purge, "_beat", overtaken_after_the_first_batch)
    first = purge.run(purge.start(), batch_size=2)

    assert first.status == PurgeRun.Status.INTERRUPTED
    assert PurgeRun.objects.get(pk=first.pk).status == PurgeRun.Status.INTERRUPTED
    assert first.done_conversations == 2 and second[0].done_conversations == 4
    assert Conversation.objects.count() == 0
    events = AuditEvent.objects.filter(action=AuditEvent.Action.RETENTION_PURGED)
    assert sorted(event.details["conversations"] for event in events) == [2, 4]


# --- the command ------------------------------------------------------------------------


def test_the_command_refuses_an_unknown_argument_with_a_clear_error():
    with pytest.raises(CommandError, match="unrecognized arguments: --now"):
        call_command("purge", "--now")


def test_the_command_says_a_run_is_busy_and_what_to_do(db):
    purge.start()
    with pytest.raises(CommandError, match="already running. Try again"):
        call_command("purge")


def test_the_command_is_audited_as_the_shells(org, capsys):
    make_conversation(org.alice, org.internal, days_idle=40)
    call_command("purge")
    out = capsys.readouterr().out
    assert "removed 1 conversation and 2 messages" in out
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_PURGED)
    assert event.actor_label == "manage.py purge"


def test_the_command_says_when_a_run_stops_and_what_to_do(org, monkeypatch, capsys):
    for _ in range(3):
        make_conversation(org.alice, org.internal, days_idle=40)
    real_run = purge.run
    monkeypatch.setattr(
        purge, "run", lambda run, **kw: real_run(run, batch_size=1, limit_seconds=0, **kw)
    )
    with pytest.raises(CommandError, match=r"stopped before the end \(PurgeTooLong.*run it again"):
        call_command("purge")
    assert "removed 1 conversation and 2 messages" in capsys.readouterr().out


def test_the_dry_run_says_when_there_is_nothing_to_remove(db, capsys):
    call_command("purge", "--dry-run")
    out = capsys.readouterr().out
    assert "Nothing is past its retention window" in out
    assert "total: 0 conversations, 0 messages; 0 expired but held" in out


def test_the_page_of_a_run_that_failed_before_deleting_does_not_say_nothing_had_expired(
    client, officers, org
):
    from django.db import DatabaseError
    from django.urls import reverse

    make_conversation(org.alice, org.internal, days_idle=40)

    def fails_at_the_conversations(execute, sql, params, many, context):
        if sql.startswith("DELETE FROM chat_conversation"):
            raise DatabaseError("connection lost")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fails_at_the_conversations):
        run = purge.run(purge.start())
    client.force_login(officers[0])
    page = client.get(reverse("privacy:purge", args=[run.public_id])).content.decode()
    assert "Nothing had expired" not in page
    assert "Nothing was deleted" in page


# --- the schedule -----------------------------------------------------------------------


def test_the_purge_is_scheduled_daily_on_the_maintenance_queue(db):
    from django.conf import settings

    from config.celery import app

    app.loader.import_default_modules()  # as a worker does when it starts
    # The migration's row (made again here: a transactional test elsewhere may have
    # flushed it from a reused test database).
    from django.apps import apps

    importlib.import_module("privacy.migrations.0002_purge_schedule").create_schedule(apps, None)
    schedule = services.purge_schedule()
    assert schedule is not None and schedule.enabled
    assert schedule.task in app.tasks
    assert schedule.queue in settings.WORKER_QUEUES
    assert (schedule.crontab.hour, schedule.crontab.minute) == ("2", "30")
    assert str(schedule.crontab.timezone) == "UTC"
    assert services.schedule_label(schedule) == "daily at 02:30 UTC"


@pytest.mark.parametrize("hour", [0, 2])
def test_beat_loads_the_purge_in_the_hours_before_it_is_due(db, monkeypatch, hour):
    """django-celery-beat loads a crontab entry only within two hours of it: at 00:00 and
    02:00 UTC, beat's schedule holds the purge, on the maintenance queue."""
    from django.apps import apps
    from django_celery_beat import schedulers

    from config.celery import app

    importlib.import_module("privacy.migrations.0002_purge_schedule").create_schedule(apps, None)
    at = dt.datetime(2026, 12, 3, hour, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(schedulers, "aware_now", lambda: at)
    scheduler = schedulers.DatabaseScheduler(app=app, lazy=True)
    entry = scheduler.all_as_schedule()[services.PURGE_TASK_NAME]
    assert entry.task == "privacy.tasks.purge_expired"
    assert entry.options["queue"] == "maintenance"
