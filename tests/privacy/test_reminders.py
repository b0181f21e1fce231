"""Deadline reminders: on the reminder days and every day once overdue, once a day."""

import datetime as dt

import pytest
from django.core import mail

from audit.models import AuditEvent
from privacy import reminders
from privacy.models import SubjectRequest


def _request(reference: str, due: dt.date, status=SubjectRequest.Status.RECEIVED):
    return SubjectRequest.objects.create(
        reference=reference,
        kind=SubjectRequest.Kind.ERASURE,
        regime=SubjectRequest.Regime.GDPR,
        status=status,
        received_on=due - dt.timedelta(days=30),
        due_on=due,
    )


@pytest.fixture
def today():
    from django.utils import timezone

    return timezone.localdate()


def test_it_reminds_on_the_reminder_days_and_when_overdue(officers, today):
    _request("DSR-A", today + dt.timedelta(days=7))
    _request("DSR-B", today + dt.timedelta(days=3))  # not a reminder day
    _request("DSR-C", today)
    _request("DSR-D", today - dt.timedelta(days=4))
    _request("DSR-E", today - dt.timedelta(days=4), status=SubjectRequest.Status.COMPLETED)
    assert reminders.send() == 3
    (email,) = mail.outbox
    assert sorted(email.to) == sorted(o.email for o in officers)
    assert "DSR-A" in email.body and "due TODAY" in email.body and "OVERDUE" in email.body
    assert "DSR-B" not in email.body and "DSR-E" not in email.body
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED)
    assert sorted(event.details["requests"]) == ["DSR-A", "DSR-C", "DSR-D"]
    assert event.details["overdue"] == 1


def test_it_reminds_once_a_day(officers, today):
    _request("DSR-A", today)
    reminders.send()
    assert reminders.send() == 0
    assert len(mail.outbox) == 1
