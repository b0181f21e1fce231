"""What verification finds beyond the hashes (checkpoint rows removed or replaced, events cut
off the end, an emptied trail, checkpoints that stopped), and the guards that keep the
checkpoints as they were signed."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from audit import chain, services
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import (
    create_checkpoint,
    iter_chain_rows,
    record,
    run_verification,
    stale_checkpoints,
    verification,
    verify_trail,
)
from tests.factories import make_user

Action = AuditEvent.Action
GUARDED = ("audit_auditevent", "audit_auditcheckpoint")


def _events(n: int) -> None:
    for i in range(n):
        record(action=Action.LOGIN, actor_label=f"user {i}")


def _tamper(sql: str, params=()) -> None:
    """Change rows as the tables' owner could: PostgreSQL's guards turned off for the
    statement, and on again (all of it rolled back with the test)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in GUARDED:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            for table in GUARDED:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def _fails(capsys) -> str:
    """audit_verify's refusal and what it wrote to stderr."""
    with pytest.raises(CommandError) as refused:
        call_command("audit_verify")
    return f"{refused.value}\n{capsys.readouterr().err}"


# --- the guards ------------------------------------------------------------------------------


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.parametrize("prune", [False, True])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditcheckpoint SET sequence = 1",
        "DELETE FROM audit_auditcheckpoint",
        "TRUNCATE audit_auditcheckpoint",
    ],
)
def test_the_database_refuses_to_change_or_remove_checkpoints(db, statement, prune):
    _events(2)
    create_checkpoint()
    with pytest.raises(Exception, match="audit checkpoints are append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            if prune:  # the events' old way past their trigger
                cursor.execute("SET LOCAL audit.prune = 'on'")
            cursor.execute(statement)
    assert AuditCheckpoint.objects.filter(sequence=2).count() == 1


def test_checkpoints_refuse_changes_through_the_orm(db):
    _events(1)
    checkpoint = create_checkpoint()
    checkpoint.sequence = 99
    with pytest.raises(PermissionError):
        checkpoint.save()
    with pytest.raises(PermissionError):
        checkpoint.delete()
    with pytest.raises(PermissionError):
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(sequence=99)
    with pytest.raises(PermissionError):
        AuditCheckpoint.objects.all().delete()
    assert AuditCheckpoint.objects.get().sequence == 1


# --- what verification finds -----------------------------------------------------------------


def test_a_fresh_install_verifies(db, capsys):
    report, problems = verify_trail()
    assert report.intact and report.checked == 0 and problems == []
    call_command("audit_verify")
    assert "Audit chain intact: 0 events" in capsys.readouterr().out
    assert run_verification().outcome == "success"


def test_an_emptied_trail_fails_while_accounts_remain(db, capsys):
    """TRUNCATE of both tables printed "Audit chain intact: 0 events, 0 checkpoints"."""
    make_user("ann@example.com")
    _events(3)
    create_checkpoint()
    _tamper("DELETE FROM audit_auditevent")
    _tamper("DELETE FROM audit_auditcheckpoint")
    said = _fails(capsys)
    assert "the trail is empty, yet the database holds 1 account: its events were removed" in said
    assert "The audit trail does not verify: 1 problem above" in said
    verification = run_verification()
    assert verification.outcome == "failure"
    assert verification.details["checkpoint_problems"] == [
        "the trail is empty, yet the database holds 1 account: its events were removed"
    ]


def test_removed_checkpoint_rows_fail_verification(db, capsys):
    """Every checkpoint row deleted: verification said intact, the panel "none yet"."""
    _events(2)
    create_checkpoint()  # at #2, recorded by #3
    _events(1)
    create_checkpoint()  # at #4, recorded by #5
    _tamper("DELETE FROM audit_auditcheckpoint")
    problem = "2 checkpoints the trail records have no checkpoint row (rows removed): "
    assert problem + "#2 (event #3), #4 (event #5)" in _fails(capsys)


def test_many_removed_checkpoint_rows_are_named_in_one_sentence(db):
    for _ in range(5):
        _events(1)
        create_checkpoint()
    _tamper("DELETE FROM audit_auditcheckpoint WHERE sequence > 1")
    _, problems = verify_trail()
    assert problems == [
        "4 checkpoints the trail records have no checkpoint row (rows removed): "
        "#3 (event #4), #5 (event #6), #7 (event #8) and 1 more"
    ]


def test_a_replaced_checkpoint_row_fails_verification(db):
    _events(2)
    create_checkpoint()
    _tamper("UPDATE audit_auditcheckpoint SET key_id = 'ffffffffffffffff'")
    _, problems = verify_trail()
    assert any(
        problem.startswith("checkpoint at #2: event #3 records it signed by key ")
        and problem.endswith("the row there names ffffffffffffffff (the row was replaced)")
        for problem in problems
    ), problems


def test_events_cut_off_the_end_with_the_checkpoint_rows_past_the_cut_fail(db, capsys):
    """Events from #N on deleted, and the checkpoint rows from #N on: "intact: N-1 events"."""
    _events(3)
    create_checkpoint()  # at #3, recorded by #4
    _events(2)
    create_checkpoint()  # at #6, recorded by #7
    _events(1)
    _tamper("DELETE FROM audit_auditevent WHERE sequence >= 4")
    _tamper("DELETE FROM audit_auditcheckpoint WHERE sequence >= 4")
    assert (
        "checkpoint at #3: the chain ends there, without the event that recorded the "
        "checkpoint after it (events cut off the end)"
    ) in _fails(capsys)


def test_a_checkpoint_row_beyond_the_head_fails_whatever_it_is_held_against(db):
    _events(1)
    kept = [services.checkpoint_line(create_checkpoint(), "")]  # at #1, recorded by #2
    _events(1)
    create_checkpoint()  # at #3, recorded by #4
    _tamper("DELETE FROM audit_auditevent WHERE sequence >= 3")
    beyond = "checkpoint at #3: the chain ends before it (rows removed)"
    assert verify_trail()[1] == [beyond]  # named once, though both checks find it
    # Held against a file kept elsewhere (from before #3), the database's rows count too.
    assert verify_trail(checkpoints=kept)[1] == [beyond]


def test_a_chain_rewritten_with_its_checkpoint_rows_dropped_fails(db, capsys):
    """Triggers off, an event rewritten, every later hash recomputed, the checkpoint rows
    from there on dropped: verification said intact."""
    _events(4)
    create_checkpoint()  # at #4, recorded by #5
    _events(2)
    _tamper("UPDATE audit_auditevent SET backend = 'Local Ollama' WHERE sequence = 2")
    prev = AuditEvent.objects.get(sequence=1).hash
    for row in [row for row in iter_chain_rows() if row["sequence"] >= 2]:
        new_hash = chain.link_hash(prev, row)
        _tamper(
            "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE sequence = %s",
            [prev, new_hash, row["sequence"]],
        )
        prev = new_hash
    _tamper("DELETE FROM audit_auditcheckpoint WHERE sequence >= 2")
    assert "1 checkpoint the trail records has no checkpoint row (rows removed): #4 (event #5)" in (
        _fails(capsys)
    )


def test_a_trail_that_starts_after_the_first_event_says_which_are_missing(db, capsys):
    _events(5)
    _tamper("DELETE FROM audit_auditevent WHERE sequence <= 2")
    assert (
        "Audit chain broken at event #3: the trail starts there, events #1 to #2 are missing"
        in _fails(capsys)
    )


def test_a_checkpoint_signed_while_the_walk_runs_is_not_taken_for_a_removed_one(db, monkeypatch):
    """Rows are read before the walk and again after it: a checkpoint signed in between has
    its event in the walk and its row in the second read."""
    _events(3)
    walk = verification.iter_chain_rows

    def signing_midway(batch_size=10_000):
        for row in walk(batch_size=2):
            if row["sequence"] == 1:
                create_checkpoint()  # at #3, recorded by #4: the walk's second batch has it
            yield row

    monkeypatch.setattr(verification, "iter_chain_rows", signing_midway)
    report, problems = verify_trail()
    assert report.checked == 4 and problems == []


# --- checkpoints that stopped ----------------------------------------------------------------


def _later(monkeypatch, **delta) -> None:
    moment = timezone.now() + dt.timedelta(**delta)
    monkeypatch.setattr(timezone, "now", lambda: moment)


def test_checkpoints_that_stopped_are_a_warning_not_a_failure(db, monkeypatch, capsys, settings):
    _events(2)
    create_checkpoint()  # at #2, recorded by #3
    _events(1)
    _later(monkeypatch, minutes=121)  # the interval is 60 minutes
    warning = stale_checkpoints()
    assert warning.startswith("checkpoints have stopped: the newest (#2, ")
    assert warning.endswith(
        ") is over twice the 60-minute interval old, and events from #4 on are signed by none: "
        "is beat running?"
    )
    call_command("audit_verify")
    said = capsys.readouterr()
    assert f"Warning (not a failure): {warning}" in said.err
    assert "Audit chain intact: 4 events" in said.out and "; 1 warning above" in said.out
    verification = run_verification()
    assert verification.outcome == "success"
    assert verification.details["warnings"] == [warning]


def test_checkpoints_are_not_stale_within_twice_the_interval_or_with_nothing_to_sign(
    db, monkeypatch
):
    _events(2)
    create_checkpoint()
    _later(monkeypatch, minutes=300)
    assert stale_checkpoints() is None  # only the checkpoint's own event since: idle
    monkeypatch.undo()
    _events(1)
    _later(monkeypatch, minutes=119)
    assert stale_checkpoints() is None
    assert "warnings" not in run_verification().details


def test_a_trail_never_checkpointed_goes_stale_too(db, monkeypatch):
    _events(1)
    _later(monkeypatch, hours=3)
    assert stale_checkpoints().startswith(
        "checkpoints have stopped: none was ever signed, though the trail began "
    )


# --- the chain panel -------------------------------------------------------------------------


def test_the_chain_panel_names_what_the_verification_found(client, reader):
    _events(2)
    create_checkpoint()
    _tamper("DELETE FROM audit_auditcheckpoint")
    verification = run_verification()
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert '<span class="badge badge-danger">broken</span>' in page
    assert (
        f'<a href="/audit/events/{verification.sequence}/">1 checkpoint the trail records has '
        "no checkpoint row (rows removed): #2 (event #3)</a>"
    ) in page
    assert "none stored" in page and "none yet" not in page


def test_the_chain_panel_shows_a_stale_warning_beside_an_intact_chain(client, reader, monkeypatch):
    _events(2)
    create_checkpoint()
    _events(1)
    _later(monkeypatch, hours=3)
    run_verification()
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert '<span class="badge badge-ok">intact</span>' in page
    assert '<span class="badge badge-warn">warning</span> checkpoints have stopped: ' in page


# --- the test suite's own flush --------------------------------------------------------------


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_the_test_flush_empties_the_audit_tables_and_leaves_their_guards_on():
    """Transactional tests are emptied by a flush (TRUNCATE) that the guards refuse: the
    suite's flush turns them off for itself only (tests/conftest.py)."""
    _events(2)
    create_checkpoint()
    call_command("flush", interactive=False, verbosity=0)
    assert AuditEvent.objects.count() == 0 and AuditCheckpoint.objects.count() == 0
    _events(1)
    create_checkpoint()
    for table in GUARDED:
        with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")
    assert AuditEvent.objects.count() == 2 and AuditCheckpoint.objects.count() == 1
