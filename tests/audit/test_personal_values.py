"""Names and IP addresses in the trail: keyed hashes in the chain, clear values for a time.

New events keep a person's name, the name of what they acted on and a sign-in's IP address
in clear where they always were, but the chain hashes each one's keyed hash in its place
(``pseudonyms``): the clear value can then be replaced by a removal marker, after
STEWARD_AUDIT_PERSONAL_DAYS or at an erasure, and the chain still verifies.
"""

import datetime as dt
import json

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import chain, personal
from audit.models import AuditEvent
from audit.services import iter_chain_rows, pseudonym, record, recording, verify_trail
from governance.models import User
from tests.asked_here import asked
from tests.audit.test_chain import _raw
from tests.audit.test_verification_doc import reference

Action = AuditEvent.Action
LATER = dt.timedelta(days=401)


def _sign_in(user: User, ip: str = "203.0.113.9") -> AuditEvent:
    return record(action=Action.LOGIN, actor=user, target=user, details={"ip": ip})


def _stored(event: AuditEvent) -> AuditEvent:
    return AuditEvent.objects.get(pk=event.pk)


def _breaks() -> list[str]:
    report, problems = verify_trail()
    return [report.first_break.reason] if report.first_break else problems


# --- What the chain hashes --------------------------------------------------------------


def test_it_hashes_a_persons_values_keyed_in_place_of_them(member):
    event = _stored(_sign_in(member))
    assert event.actor_label == event.target_repr == "Max Member"
    assert event.details == {"ip": "203.0.113.9"}
    assert event.pseudonyms == {
        "actor_label": pseudonym("Max Member"),
        "target_repr": pseudonym("Max Member"),
        "details.ip": pseudonym("203.0.113.9"),
    }
    row = next(row for row in iter_chain_rows() if row["sequence"] == event.sequence)
    hashed = chain.content(row).decode()
    assert "Max Member" not in hashed and "203.0.113.9" not in hashed
    assert chain.verify(iter_chain_rows()).intact


def test_an_event_with_no_person_in_it_is_chained_as_before(db):
    event = _stored(record(action=Action.POLICY_SEEDED, actor_label="system", details={"n": 1}))
    assert event.pseudonyms is None
    row = next(iter_chain_rows())
    assert b'"actor_label":"system"' in chain.content(row)
    assert chain.verify(iter_chain_rows()).intact


def test_a_requests_reference_is_not_hashed(member, privacy_officer):
    from privacy.services import receive_request

    request = receive_request(
        actor=privacy_officer,
        kind="erasure",
        regime="gdpr",
        received_on=timezone.localdate(),
        identifiers=[("email", "x@example.com")],
        subject_user=member,
    )
    event = AuditEvent.objects.filter(target_id=str(request.public_id)).first()
    assert set(event.pseudonyms) == {"actor_label"}
    assert event.target_repr == request.reference


def test_a_clearances_email_is_hashed_and_a_categorys_name_is_not(member, admin):
    from governance.models import Category

    category = Category.objects.create(number=7, slug="seven", name="Seven", retention_days=7)
    changed = _stored(
        record(
            action=Action.POLICY_CHANGED,
            actor=admin,
            target=category,
            after={"user": str(member.public_id), "user_email": member.email},
        )
    )
    assert set(changed.pseudonyms) == {"actor_label", "after.user_email"}
    assert changed.target_repr == "7 · Seven"


def test_old_rows_that_hashed_clear_values_keep_verifying(member, monkeypatch):
    monkeypatch.setattr(recording, "_pseudonyms", lambda *args, **kwargs: None)
    old = _stored(_sign_in(member))
    monkeypatch.undo()
    new = _stored(_sign_in(member))
    assert old.pseudonyms is None and new.pseudonyms
    assert _breaks() == []
    personal.remove_old_values(now=timezone.now() + LATER)
    assert _stored(old).actor_label == "Max Member"  # the chain covers it: it stays
    assert _stored(new).actor_label == "[removed after 400 days]"
    assert _breaks() == []


# --- Removal after the retention ------------------------------------------------------


def test_it_removes_the_values_of_events_older_than_the_limit(member, settings):
    settings.STEWARD_AUDIT_PERSONAL_DAYS = 400
    old = _sign_in(member)
    system = record(action=Action.POLICY_SEEDED, actor_label="system")
    run = personal.remove_old_values(now=timezone.now() + LATER)
    kept = _sign_in(member)
    gone = _stored(old)
    marker = "[removed after 400 days]"
    assert (gone.actor_label, gone.target_repr, gone.details) == (marker, marker, {"ip": marker})
    assert gone.pseudonyms == old.pseudonyms
    assert _stored(system).actor_label == "system"
    assert _stored(kept).actor_label == "Max Member"
    assert run.action == Action.AUDIT_PERSONAL_REMOVED
    assert run.details == {"days": 400, "events": 1, "values": 3, "through": system.sequence}
    assert "Max Member" not in json.dumps(run.details) + run.message
    assert _breaks() == []


def test_it_leaves_recent_events_and_does_nothing_when_kept_without_limit(member, settings):
    event = _sign_in(member)
    assert personal.remove_old_values() is None  # nothing is 400 days old: no event
    settings.STEWARD_AUDIT_PERSONAL_DAYS = 0
    assert personal.remove_old_values(now=timezone.now() + LATER) is None
    assert _stored(event).actor_label == "Max Member"
    assert not AuditEvent.objects.filter(action=Action.AUDIT_PERSONAL_REMOVED).exists()


def test_each_run_starts_where_the_last_one_ended(member):
    _sign_in(member)
    first = personal.remove_old_values(now=timezone.now() + LATER, batch_size=1)
    _sign_in(member)
    second = personal.remove_old_values(now=timezone.now() + LATER, batch_size=1)
    assert first.details["events"] == 1 and second.details["events"] == 1
    assert second.details["through"] == second.sequence - 1
    third = personal.remove_old_values(now=timezone.now() + LATER)
    assert third.details == {"days": 400, "events": 0, "values": 0, "through": second.sequence}
    assert _breaks() == []


def test_the_beat_task_removes_them_daily(member, settings, monkeypatch):
    from audit import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["audit-personal-values"]
    assert entry["task"] == "audit.tasks.remove_personal_values"
    assert entry["schedule"] == 24 * 3600.0
    event = _sign_in(member)
    settings.STEWARD_AUDIT_PERSONAL_DAYS = 1
    later = timezone.now() + dt.timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    tasks.remove_personal_values.delay()
    assert _stored(event).actor_label == "[removed after 1 day]"


# --- Tampering --------------------------------------------------------------------------


def test_a_swapped_name_is_caught(member):
    event = _sign_in(member)
    _sign_in(member)
    _raw("UPDATE audit_auditevent SET actor_label = %s WHERE sequence = %s",
         ["Mallory", event.sequence])  # fmt: skip
    assert chain.verify(iter_chain_rows()).intact  # the hashes alone cannot tell
    report, _ = verify_trail()
    assert report.first_break == chain.ChainBreak(event.sequence, chain.VALUE_DIFFERS)


def test_a_swapped_keyed_hash_is_caught(member):
    event = _sign_in(member)
    forged = json.dumps({**event.pseudonyms, "actor_label": pseudonym("Mallory")})
    _raw("UPDATE audit_auditevent SET pseudonyms = %s WHERE sequence = %s",
         [forged, event.sequence])  # fmt: skip
    assert chain.verify(iter_chain_rows()).first_break.reason == "content hash differs"


def test_a_row_turned_to_the_old_format_is_caught(member):
    event = _sign_in(member)
    _raw("UPDATE audit_auditevent SET pseudonyms = NULL WHERE sequence = %s", [event.sequence])
    assert chain.verify(iter_chain_rows()).first_break.reason == "content hash differs"


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.parametrize(
    "assignment",
    [
        "message = 'changed'",
        "actor_label = 'Mallory'",
        'details = \'{"ip": "[removed]", "more": 1}\'::jsonb',
        "pseudonyms = NULL",
        "category = 'x', actor_label = '[removed after 1 days]'",
    ],
)
def test_postgresql_refuses_any_other_change(member, assignment):
    event = _sign_in(member)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE audit_auditevent SET {assignment} WHERE sequence = %s", [event.sequence]
            )


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_refuses_removing_a_value_the_chain_holds_in_clear(db):
    event = record(action=Action.POLICY_SEEDED, actor_label="system")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET actor_label = '[removed]' WHERE sequence = %s",
                [event.sequence],
            )


# --- A review's attacks (each verified before they were refused) --------------------------


def _blocked(member) -> AuditEvent:
    return record(
        action=Action.CHAT_REQUEST,
        actor=member,
        outcome=AuditEvent.Outcome.BLOCKED,
        category="Prohibited",
        details={"decision": "block", "reasons": ["rule secret"], "n": 1},
    )


@pytest.mark.parametrize("first_format", [True, False])
def test_a_value_moved_into_the_keyed_hashes_is_unreadable(member, monkeypatch, first_format):
    """With the guard bypassed, a blocked message's reasons and outcome hidden behind a marker,
    their values moved into ``pseudonyms``: the chain verified, old rows and new alike."""
    if first_format:
        monkeypatch.setattr(recording, "_pseudonyms", lambda *args, **kwargs: None)
    event = _blocked(member)
    monkeypatch.undo()
    keyed = dict(_stored(event).pseudonyms or {}) | {
        "details.reasons": pseudonym("rule secret"),
        "outcome": pseudonym("blocked"),
    }
    details = {"decision": "block", "reasons": "[removed after 400 days]", "n": 1}
    _raw(
        "UPDATE audit_auditevent SET details = %s, outcome = %s, pseudonyms = %s "
        "WHERE sequence = %s",
        [json.dumps(details), "success", json.dumps(keyed), event.sequence],
    )
    assert _breaks() == ["unreadable content"]


def test_a_row_cannot_hold_one_more_value_by_keyed_hash(member):
    event = record(action=Action.LOGIN, actor=member, details={"ip": "203.0.113.9"})
    keyed = dict(_stored(event).pseudonyms)
    assert "target_repr" not in keyed
    keyed["target_repr"] = pseudonym("")
    _raw(
        "UPDATE audit_auditevent SET pseudonyms = %s WHERE sequence = %s",
        [json.dumps(keyed), event.sequence],
    )
    assert _breaks() == ["content hash differs"]  # the list of paths is hashed too


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.parametrize(
    "assignment",
    [
        "actor_label = '[removed: login was by Bob from the VPN, not Max]'",
        "target_repr = E'[removed\\n\\nreal user: Mallory\\n]'",
        "details = jsonb_set(details, '{n}', '1.0'::jsonb)",  # jsonb's 1 = 1.0; its text not
    ],
)
def test_postgresql_refuses_prose_for_a_marker_and_numbers_spelt_otherwise(member, assignment):
    event = record(
        action=Action.LOGIN, actor=member, target=member, details={"ip": "203.0.113.9", "n": 1}
    )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE audit_auditevent SET {assignment} WHERE sequence = %s", [event.sequence]
            )


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_keeps_a_marker_once_written(member):
    event = _sign_in(member)
    personal.remove_old_values(now=timezone.now() + LATER)
    assert _stored(event).actor_label == "[removed after 400 days]"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET actor_label = '[removed: account erased]' "
                "WHERE sequence = %s",
                [event.sequence],
            )


def test_the_offline_verifier_refuses_a_value_that_is_not_a_persons(member):
    event = _blocked(member)
    row = {**dict(next(iter_chain_rows())), "sequence": event.sequence}
    row["pseudonyms"] = {**(row["pseudonyms"] or {}), "outcome": pseudonym("blocked")}
    with pytest.raises(reference.Unreadable, match="no person's value"):
        reference.hashed_fields(row)
    row["pseudonyms"] = {"actor_label": "Max Member"}  # no keyed hash
    with pytest.raises(reference.Unreadable, match="no keyed hash"):
        reference.hashed_fields(row)


# --- Erasure, filters, exports ------------------------------------------------------


def test_erasing_an_account_removes_its_values_at_once(member, admin):
    from privacy.erasure import account_names, erase_account

    own = _sign_in(member)
    about = record(action=Action.USER_ROLES_CHANGED, actor=admin, target=member)
    other = _sign_in(admin)
    failed = record(  # a failed sign-in to their account has no actor (a review found its IP)
        action=Action.LOGIN_FAILED,
        actor_label="anonymous",
        target=member,
        details={"ip": "203.0.113.77"},
    )
    names = account_names(member)
    assert erase_account(member)
    personal.forget_person(member, names=names)  # as the erasure's run does, after it
    marker = personal.ERASED
    assert (_stored(own).actor_label, _stored(own).details["ip"]) == (marker, marker)
    assert (_stored(failed).target_repr, _stored(failed).details["ip"]) == (marker, marker)
    about = _stored(about)
    assert (about.actor_label, about.target_repr) == ("Ada Admin", marker)
    assert _stored(other).actor_label == "Ada Admin"
    assert _breaks() == []


def test_erasing_an_account_leaves_the_people_it_gave_clearances_to(member, admin):
    """Erasing the admin removed the email of the member they had cleared, in that event."""
    from governance.services import grant_clearance
    from privacy.erasure import account_names, erase_account
    from tests.factories import make_category

    grant_clearance(category=make_category(number=2, slug="internal"), user=member, actor=admin)
    given = AuditEvent.objects.filter(target_type="governance.clearance").latest("sequence")
    names = account_names(admin)
    assert erase_account(admin)
    personal.forget_person(admin, names=names)
    given = _stored(given)
    assert given.actor_label == personal.ERASED
    assert given.after["user_email"] == member.email
    assert given.target_repr.startswith(member.display_name)
    assert _breaks() == []


def test_filtering_by_actor_still_finds_events_whose_name_is_gone(client, reader, member):
    event = _sign_in(member)
    personal.remove_old_values(now=timezone.now() + LATER)
    client.force_login(reader)
    page = client.get("/audit/", {"actor": member.email}).content.decode()
    assert f'href="/audit/events/{event.sequence}/?actor=' in page
    assert "[removed after 400 days]" in page


def test_exports_and_the_api_carry_the_keyed_hashes_and_the_marker(client, reader, member):
    event = _sign_in(member)
    personal.remove_old_values(now=timezone.now() + LATER)
    client.force_login(reader)
    lines = (
        b"".join(client.get(asked(client, "/audit/export/jsonl/")).streaming_content)
        .decode()
        .split("\n")
    )
    rows = [json.loads(line) for line in lines if line]
    row = next(row for row in rows if row["sequence"] == event.sequence)
    assert row["pseudonyms"] == event.pseudonyms
    assert row["actor_label"] == "[removed after 400 days]"
    hashes, broken = reference.check_chain(rows)  # docs/verify_audit_export.py
    assert broken is None and len(hashes) == len(rows)
    csv = b"".join(client.get(asked(client, "/audit/export/csv/")).streaming_content).decode()
    assert "pseudonyms" in csv.splitlines()[0]
    api = client.get(f"/api/audit/events/{event.sequence}/").json()
    assert api["pseudonyms"] == event.pseudonyms
    assert api["details"] == {"ip": "[removed after 400 days]"}


def test_the_event_page_says_a_swapped_name_breaks_the_link(client, reader, member):
    event = _sign_in(member)
    client.force_login(reader)
    assert "Mallory" not in client.get(f"/audit/events/{event.sequence}/").content.decode()
    intact = client.get(f"/audit/events/{event.sequence}/").context["links_ok"]
    _raw("UPDATE audit_auditevent SET actor_label = %s WHERE sequence = %s",
         ["Mallory", event.sequence])  # fmt: skip
    assert intact and not client.get(f"/audit/events/{event.sequence}/").context["links_ok"]


def test_the_records_page_states_the_limit_and_the_date_it_began(member):
    from privacy.records import AUDIT_TRAIL

    assert "before this version" in str(AUDIT_TRAIL.retention)
    event = _sign_in(member)
    text = str(AUDIT_TRAIL.retention)
    since = timezone.localtime(event.occurred_at).strftime("%-d %B %Y")
    assert text.startswith("Without a time limit")
    assert f"Names and IP addresses in events since {since}: kept 400 days" in text
