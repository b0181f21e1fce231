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


def test_it_finds_the_privacy_officers_in_one_query_however_many_people_there_are(officers, today):
    """The officers are whoever holds the permission, through the role's group, on their own
    or as a superuser, and is active; found in the same queries among 8 people as among 48."""
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.models import User
    from governance.roles import Role
    from tests.factories import make_user

    direct = make_user("dana@corp.example")
    direct.user_permissions.add(Permission.objects.get(codename="handle_privacy"))
    User.objects.create_superuser("root@corp.example", "correct-horse-battery")
    make_user("gone@corp.example", Role.PRIVACY_OFFICER, is_active=False)

    def remind(reference: str) -> int:
        _request(reference, today)
        with CaptureQueriesContext(connection) as queries:
            assert reminders.send() == 1
        return len(queries)

    for number in range(3):
        make_user(f"staff{number}@corp.example", Role.STAFF)
    small = remind("DSR-A")
    for number in range(3, 43):
        make_user(f"staff{number}@corp.example", Role.STAFF)
    large = remind("DSR-B")
    assert large == small
    assert sorted(mail.outbox[-1].to) == [
        "dana@corp.example", "omar@corp.example", "priya@corp.example", "root@corp.example"
    ]  # fmt: skip


def test_it_reminds_of_what_the_requester_must_still_be_told(officers, today):
    """A CCPA request's receipt is confirmed within 10 business days: from two days before,
    and every day once late, the reminder names it, whatever the request's own due date."""
    from privacy import notices, policy
    from privacy.models import RequesterNotice

    told_late = SubjectRequest.objects.create(
        reference="DSR-CCPA",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.CCPA,
        received_on=today - dt.timedelta(days=20),
        due_on=today + dt.timedelta(days=25),  # not a reminder day
    )
    _request("DSR-GDPR", today + dt.timedelta(days=20))  # GDPR: no day set for the receipt
    assert reminders.send() == 1
    acknowledge_by = policy.acknowledge_by(policy.CCPA, told_late.received_on)
    assert (
        "- DSR-CCPA (Access (a copy of the data), CCPA), received: due in 25 days, on "
        f"{told_late.due_on:%-d %B %Y}; tell the requester: the request was received "
        f"(by {acknowledge_by:%-d %B %Y})"
    ) in mail.outbox[0].body
    assert "DSR-GDPR" not in mail.outbox[0].body

    notices.record_notice(
        request=told_late,
        actor=officers[0],
        topic=RequesterNotice.Topic.RECEIPT,
        channel=RequesterNotice.Channel.EMAIL,
        told_on=today,
    )
    SubjectRequest.objects.update(reminded_on=None)
    assert reminders.due_for_reminder(today) == []


def test_a_closed_request_is_reminded_of_the_outcome_it_owes(officers, today):
    """The outcome is owed once a request closes, by its due date: only open requests were
    looked at, and the desk lists only the newest closed ones."""
    from privacy import notices, services
    from privacy.models import RequesterNotice
    from tests.privacy.conftest import receive

    request = receive(officers, received_on=today - dt.timedelta(days=29))  # due tomorrow
    request = services.reject_request(request=request, actor=officers[0], reason="Not ours")
    assert [r.reference for r in reminders.due_for_reminder(today)] == [request.reference]
    assert reminders.send() == 1
    line = next(line for line in mail.outbox[0].body.splitlines() if request.reference in line)
    assert line == (
        f"- {request.reference} (Erasure (be forgotten), GDPR), rejected; tell the requester: "
        f"the outcome "
        f"(by {request.due_on:%-d %B %Y})"
    )
    assert AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED).details["overdue"] == 0
    notices.record_notice(request=request, actor=officers[1], topic=RequesterNotice.Topic.OUTCOME,
                          channel=RequesterNotice.Channel.EMAIL, told_on=today)  # fmt: skip
    SubjectRequest.objects.update(reminded_on=None)
    assert reminders.due_for_reminder(today) == []
