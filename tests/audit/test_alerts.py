"""A failed verification is told to the auditors: a broken chain nobody looks at proves
nothing. Logged as an error, mailed to every active auditor each time it fails, the mail
recorded; an intact chain says nothing."""

import logging

import pytest
from django.core import mail

from audit import services
from audit.models import AuditEvent
from audit.services import record, run_verification, verification
from governance.roles import Role
from tests.audit.test_chain import _raw
from tests.audit.test_trail_integrity import _tamper
from tests.factories import make_user

Action = AuditEvent.Action


@pytest.fixture
def auditors(db):
    ada = make_user("ada@example.com", Role.AUDITOR)
    make_user("gone@example.com", Role.AUDITOR, is_active=False)
    make_user("staff@example.com", Role.STAFF)
    return [ada]


def _events(n: int) -> None:
    for i in range(n):
        record(action=Action.LOGIN, actor_label=f"user {i}")


def test_an_intact_chain_tells_nobody(auditors, caplog):
    _events(3)
    assert run_verification().outcome == "success"
    assert mail.outbox == [] and not AuditEvent.objects.filter(action=Action.AUDIT_ALERTED)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_broken_chain_is_mailed_to_every_active_auditor_and_logged(auditors, caplog):
    _events(3)
    _raw("UPDATE audit_auditevent SET actor_label = 'someone else' WHERE sequence = 2")
    verification = run_verification()
    assert verification.outcome == "failure"
    [sent] = mail.outbox
    assert sent.to == ["ada@example.com"]
    assert sent.subject == "Steward: the audit trail failed its verification"
    assert f"(event #{verification.sequence}," in sent.body
    assert "event #2 is the first that fails (content hash differs)" in sent.body
    assert "manage.py audit_verify" in sent.body and "someone else" not in sent.body
    alerted = AuditEvent.objects.get(action=Action.AUDIT_ALERTED)
    assert alerted.details == {"verification": verification.sequence, "recipients": 1}
    assert "failed its verification" in caplog.text and "event #2" in caplog.text

    run_verification()  # still broken: told again
    assert len(mail.outbox) == 2


def test_a_verification_that_cannot_finish_is_told_too(auditors, monkeypatch):
    _events(2)

    def cannot_finish(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(verification, "verify_trail", cannot_finish)
    run_verification()
    assert "it could not finish (RuntimeError)" in mail.outbox[0].body
    assert "the database went away" not in mail.outbox[0].body


def test_a_mail_that_fails_is_logged_and_the_verification_still_recorded(
    auditors, monkeypatch, caplog
):
    _events(2)
    _raw("UPDATE audit_auditevent SET actor_label = 'x' WHERE sequence = 1")

    def refused(*args, **kwargs):
        raise ConnectionRefusedError("ada@example.com refused")

    monkeypatch.setattr("audit.alerts.send_mail", refused)
    assert run_verification().outcome == "failure"
    assert "were not mailed about it (ConnectionRefusedError)" in caplog.text
    assert "ada@example.com" not in caplog.text
    assert not AuditEvent.objects.filter(action=Action.AUDIT_ALERTED).exists()


def test_with_no_auditor_it_is_logged_only(db, caplog):
    _events(2)
    _raw("UPDATE audit_auditevent SET actor_label = 'x' WHERE sequence = 1")
    run_verification()
    assert mail.outbox == []
    assert "No active auditor to tell" in caplog.text


def test_the_mail_names_what_failed_when_checkpoint_rows_were_removed(auditors):
    _events(2)
    services.create_checkpoint()
    _tamper("DELETE FROM audit_auditcheckpoint")
    verification = run_verification()
    body = mail.outbox[0].body
    assert (
        f"(event #{verification.sequence}, " in body
        and "1 checkpoint the trail records has no checkpoint row (rows removed): #2 (event #3)."
        in body
    )
    assert "do not match" not in body and "What the verification found" not in body


def test_the_mail_lists_every_problem_when_there_are_several(auditors):
    for _ in range(2):
        _events(1)
        services.create_checkpoint()
    _tamper("UPDATE audit_auditcheckpoint SET signature = 'forged'")
    run_verification()
    body = mail.outbox[0].body
    assert (
        "checkpoint at #3: signature does not verify, and 1 more problem(s) listed below."
    ) in body
    assert (
        "What the verification found:\n- checkpoint at #3: signature does not verify\n"
        "- checkpoint at #1: signature does not verify\n"
    ) in body
