import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit import chain
from audit.models import AuditEvent
from audit.services import (
    append_events,
    collected,
    iter_chain_rows,
    record,
    update_and_record,
)
from governance.models import User
from tests.factories import make_user

Action = AuditEvent.Action


def _append(n: int, **fields) -> list[AuditEvent]:
    return [record(action=Action.LOGIN, actor_label=f"user {i}", **fields) for i in range(n)]


def _raw(sql: str, params=()) -> None:
    """Change rows behind the application's back, as an attacker with database access would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def _verify() -> chain.ChainReport:
    return chain.verify(iter_chain_rows(batch_size=3))


def test_it_links_each_event_to_the_one_before(db):
    first, second = _append(2)
    assert first.sequence == 1
    assert first.prev_hash == chain.GENESIS_HASH
    assert second.prev_hash == first.hash
    report = _verify()
    assert report.intact
    assert report.checked == 2
    assert report.head_hash == second.hash


def test_it_catches_a_changed_row(db):
    _append(5)
    _raw("UPDATE audit_auditevent SET actor_label = %s WHERE sequence = 3", ["mallory"])
    report = _verify()
    assert report.first_break == chain.ChainBreak(3, "content hash differs")
    assert report.checked == 2


def test_it_catches_a_changed_json_detail(db):
    _append(3, details={"size": 10})
    _raw("UPDATE audit_auditevent SET details = %s WHERE sequence = 2", ['{"size": 11}'])
    assert _verify().first_break.sequence == 2


def test_it_reports_a_row_edited_beyond_reading_as_a_break(db):
    """JSON the verifier cannot decode (a number no double holds, which the database keeps)
    is a break at that row, not a verification that stops with an error."""
    _append(4, details={"size": 11})
    _raw("UPDATE audit_auditevent SET details = %s WHERE sequence = 2", ['{"size": 1e400}'])
    report = _verify()
    assert report.first_break == chain.ChainBreak(2, "unreadable content")
    assert report.checked == 1


def test_it_catches_a_deleted_row(db):
    _append(5)
    _raw("DELETE FROM audit_auditevent WHERE sequence = 4")
    assert _verify().first_break == chain.ChainBreak(5, "expected #4")


def test_it_catches_a_deleted_tail_against_a_known_head(db):
    events = _append(4)
    _raw("DELETE FROM audit_auditevent WHERE sequence = 4")
    report = _verify()
    assert report.intact  # a truncated tail verifies on its own...
    assert report.head_hash != events[-1].hash  # ...so checkpoints keep the head elsewhere


def test_it_catches_reordered_rows(db):
    _append(4)
    _raw("UPDATE audit_auditevent SET sequence = 99 WHERE sequence = 2")  # (PostgreSQL: > 0)
    _raw("UPDATE audit_auditevent SET sequence = 2 WHERE sequence = 3")
    _raw("UPDATE audit_auditevent SET sequence = 3 WHERE sequence = 99")
    assert _verify().first_break == chain.ChainBreak(2, "previous hash differs")


def test_it_refuses_changes_through_the_orm(db):
    event = record(action=Action.LOGIN)
    event.actor_label = "someone else"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET actor_label = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_the_database_refuses_to_rewrite_history(db, statement):
    record(action=Action.LOGIN)
    _assert_triggers_on("audit_auditevent")
    with pytest.raises(Exception, match="audit events are append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(statement)
    assert AuditEvent.objects.count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.parametrize("statement", ["DELETE FROM audit_auditevent", "TRUNCATE audit_auditevent"])
def test_the_old_prune_setting_opens_nothing(db, statement):
    """``SET LOCAL audit.prune = 'on'`` let any session with the application's credentials
    delete or truncate the trail (and nothing in Steward used it)."""
    record(action=Action.LOGIN)
    with pytest.raises(Exception, match="audit events are append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL audit.prune = 'on'")
            cursor.execute(statement)
    assert AuditEvent.objects.count() == 1


def _assert_triggers_on(table: str) -> None:
    """The table's guards fire (not turned off, say by a test's flush that left them so)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger "
            "WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [table],
        )
        triggers = dict(cursor.fetchall())
    assert len(triggers) == 2 and set(triggers.values()) == {"O"}, triggers


def _in_threads(count: int, write) -> None:
    """``write(n)`` in ``count`` threads at once; their errors fail the test."""
    errors = []

    def writer(n: int) -> None:
        try:
            write(n)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_one_valid_chain():
    def write(n: int) -> None:
        for i in range(25):
            record(action=Action.LOGIN, actor_label=f"writer {n}/{i}")

    _in_threads(6, write)
    report = _verify()
    assert report.intact
    assert report.checked == 150


def test_events_collected_join_the_chain_together_in_order(db):
    _append(1)
    held = []
    with transaction.atomic():
        with collected(held):
            record(action=Action.LOGIN, actor_label="first", details={"n": 1})
            record(action=Action.LOGOUT, actor=None, before={"a": None}, after={"b": [1]})
            record(action=Action.LOGIN, actor_label="third", message="é ✓")
        assert AuditEvent.objects.count() == 1  # held until appended
        assert held[0].sequence is None
        append_events(held)
    assert [e.sequence for e in held] == [2, 3, 4]
    assert held[1].prev_hash == held[0].hash and held[2].prev_hash == held[1].hash
    stored = AuditEvent.objects.get(sequence=4)
    assert (stored.actor_label, stored.message, stored.hash) == ("third", "é ✓", held[2].hash)
    report = _verify()
    assert report.intact and report.checked == 4


def test_events_collected_by_a_block_that_fails_are_not_appended(db):
    held = []
    with pytest.raises(ValueError), transaction.atomic():
        with collected(held):
            record(action=Action.LOGIN, actor_label="never")
            raise ValueError
        append_events(held)
    assert AuditEvent.objects.count() == 0


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_writers_appending_together_at_once_leave_one_valid_chain():
    def write(n: int) -> None:
        for i in range(10):
            with transaction.atomic():
                held = []
                with collected(held):
                    for j in range(3):
                        record(action=Action.LOGIN, actor_label=f"writer {n}/{i}/{j}")
                append_events(held)

    _in_threads(4, write)
    report = _verify()
    assert report.intact and report.checked == 120
    labels = list(AuditEvent.objects.order_by("sequence").values_list("actor_label", flat=True))
    for start in range(0, 120, 3):  # each block's events are next to each other, in order
        block = labels[start : start + 3]
        assert [label.rsplit("/", 1)[1] for label in block] == ["0", "1", "2"]
        assert len({label.rsplit("/", 1)[0] for label in block}) == 1


def _update_and_record(user, *, only_if_named: str):
    events = []
    changed = update_and_record(
        f"UPDATE {User._meta.db_table} SET full_name = %s WHERE id = %s AND full_name = %s",
        ["Renamed", user.pk, only_if_named],
        lambda: events.append(record(action=Action.LOGIN, actor=user, details={"n": 1})),
    )
    return changed, events


def _check_update_and_record():
    user = make_user("u@example.com", full_name="Una")
    _append(1)
    changed, (event,) = _update_and_record(user, only_if_named="Una")
    assert changed == 1
    assert User.objects.get(pk=user.pk).full_name == "Renamed"
    assert event.sequence == 2 and event.hash == AuditEvent.objects.get(sequence=2).hash
    changed, _ = _update_and_record(user, only_if_named="Una")  # no longer matches
    assert changed == 0
    assert AuditEvent.objects.count() == 2  # no row changed: no event either
    assert _verify().intact


def test_update_and_record_appends_only_when_a_row_changed(db):
    _check_update_and_record()  # inside the test's transaction: update, then record


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_update_and_record_is_one_statement_outside_a_transaction(django_assert_num_queries):
    _check_update_and_record()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_update_and_record_counts_one_round_trip(django_assert_num_queries):
    user = make_user("v@example.com", full_name="Vera")
    with django_assert_num_queries(1):
        changed, (event,) = _update_and_record(user, only_if_named="Vera")
    assert changed == 1 and event.sequence == 1
    assert _verify().intact


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_an_update_whose_event_cannot_be_appended_does_not_happen():
    user = make_user("w@example.com", full_name="Wim")
    with pytest.raises(DatabaseError):
        update_and_record(
            f"UPDATE {User._meta.db_table} SET full_name = %s WHERE id = %s",
            ["Renamed", user.pk],
            lambda: record(action="x" * 300),  # too long for its column: the append fails
        )
    assert User.objects.get(pk=user.pk).full_name == "Wim"
    assert AuditEvent.objects.count() == 0


def test_audit_verify_names_the_first_bad_event(db, capsys):
    _append(3)
    call_command("audit_verify")
    assert "intact: 3 events" in capsys.readouterr().out
    _raw("UPDATE audit_auditevent SET action = %s WHERE sequence = 2", [Action.LOGOUT.value])
    with pytest.raises(CommandError, match="broken at event #2"):
        call_command("audit_verify")


def test_it_records_the_request_id_and_target(client, admin, member):
    client.force_login(admin)
    client.post(
        f"/policy/users/{member.public_id}/", {"roles": ["auditor"]}, HTTP_X_REQUEST_ID="req-123"
    )
    event = AuditEvent.objects.get(action=Action.USER_ROLES_CHANGED)
    assert event.request_id == "req-123"
    assert event.actor == admin
    assert event.target_type == "governance.user"
    assert event.target_id == str(member.public_id)
    assert event.before == {"roles": ["staff"]} and event.after == {"roles": ["auditor"]}


LONG_EMAIL = "a" * 64 + "@" + "b" * 60 + "." + "b" * 60 + "." + "c" * 20 + ".example.com"


def test_a_label_longer_than_its_column_is_clipped_and_chained_as_stored(db):
    """An account with no name is labelled by its email, up to 254 characters: on PostgreSQL
    the 200-character column refused the event, and whatever it was part of with it."""
    event = record(action=Action.LOGIN, actor_label=LONG_EMAIL)
    stored = AuditEvent.objects.get(sequence=event.sequence)
    assert len(LONG_EMAIL) > 200
    assert stored.actor_label == LONG_EMAIL[:199] + "…" == event.actor_label
    assert stored.hash == event.hash
    assert _verify().intact


def test_someone_whose_email_is_longer_than_the_label_column_signs_in(client, db):
    make_user(LONG_EMAIL, password="correct-horse-battery")
    response = client.post(
        "/accounts/login/", {"login": LONG_EMAIL, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=Action.LOGIN)
    assert event.actor.email == LONG_EMAIL
    assert len(event.actor_label) == 200 and event.actor_label.endswith("…")
    assert _verify().intact
