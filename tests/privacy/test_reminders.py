"""Deadline reminders: on the reminder days and every day once overdue, once a day."""

import datetime as dt

import pytest
from django.core import mail

from audit.models import AuditEvent
from privacy import reminders
from privacy.models import LegalHold, SubjectRequest


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
    late = (today - acknowledge_by).days  # 10 business days after 20 days ago
    assert (
        "- DSR-CCPA (Access (a copy of the data), CCPA), received: due in 25 days, on "
        f"{told_late.due_on:%-d %B %Y}; tell the requester: the request was received "
        f"(OVERDUE by {late} days, was due {acknowledge_by:%-d %B %Y}): {_page(told_late)}"
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
    from privacy import notices
    from privacy.models import RequesterNotice
    from tests.privacy.conftest import receive, reject

    request = receive(officers, received_on=today - dt.timedelta(days=29))  # due tomorrow
    request = reject(request, officers, ground="no_data", reason="Not ours")
    assert [r.reference for r in reminders.due_for_reminder(today)] == [request.reference]
    assert reminders.send() == 1
    line = next(line for line in mail.outbox[0].body.splitlines() if request.reference in line)
    assert line == (
        f"- {request.reference} (Erasure (be forgotten), GDPR), rejected; tell the requester: "
        f"the outcome (by {request.due_on:%-d %B %Y}): {_page(request)}"
    )
    assert AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED).details["overdue"] == 0
    notices.record_notice(request=request, actor=officers[1], topic=RequesterNotice.Topic.OUTCOME,
                          channel=RequesterNotice.Channel.EMAIL, told_on=today)  # fmt: skip
    SubjectRequest.objects.update(reminded_on=None)
    assert reminders.due_for_reminder(today) == []


def _ask_release(hold, asker, *, days_ago: int):
    from privacy import services

    services.ask_release(hold=hold, actor=asker, reason="Case 31 settled")
    _asked_days_ago(hold, days_ago)


def _asked_days_ago(hold, days: int):
    from django.utils import timezone

    LegalHold.objects.filter(pk=hold.pk).update(
        release_asked_at=timezone.now() - dt.timedelta(days=days)
    )


@pytest.fixture
def held(officers):
    from governance.roles import Role
    from privacy import services
    from tests.factories import make_user

    alice = make_user("alice@corp.example", Role.STAFF, full_name="Alice")
    return services.place_hold(actor=officers[1], reason="Case 31 secret reason", user=alice)


def test_a_hold_release_waiting_for_a_second_officer_is_reminded_once_a_day(officers, held, today):
    """The ask waits for another officer, who may not look at the desk for days: from the
    day after it was asked, the daily mail says so (never the hold's reasons, nor whom it
    holds: an officer may be the person held)."""
    _ask_release(held, officers[0], days_ago=0)
    assert reminders.send() == 0, "asked today: the asker tells a colleague first"
    _asked_days_ago(held, 1)
    assert reminders.send() == 1
    (email,) = mail.outbox
    assert "1 legal hold" in email.subject
    assert "asked by Priya" in email.body and "waiting 1 day" in email.body
    assert "secret reason" not in email.body and "settled" not in email.body
    assert "alice" not in email.body.lower()
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED)
    assert event.details["requests"] == [] and event.details["holds"] == [str(held.public_id)]
    assert reminders.send() == 0, "once a day"
    assert len(mail.outbox) == 1


def test_a_released_or_withdrawn_ask_is_not_reminded(officers, held, today):
    from privacy import services

    _ask_release(held, officers[0], days_ago=2)
    services.withdraw_release(hold=held, actor=officers[1])
    assert reminders.send() == 0
    assert mail.outbox == []


def test_requests_and_waiting_holds_share_one_mail(officers, held, today):
    _request("DSR-A", today)
    _ask_release(held, officers[0], days_ago=3)
    assert reminders.send() == 2
    (email,) = mail.outbox
    assert "DSR-A" in email.body and "waiting 3 days" in email.body
    assert email.subject == "Steward: 1 data-subject request due soon, 1 legal hold to confirm"


def _page(request, anchor: str = "") -> str:
    """The request's page as the mail links it: the site's address (embedded: this machine
    and its ``PORT``) and the page's path."""
    from django.conf import settings
    from django.urls import reverse

    path = reverse("privacy:request", args=[request.public_id]) + anchor
    return f"http://127.0.0.1:{settings.PORT}{path}"


def _reminder_lines(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("- DSR-")]


def test_overdue_requests_come_first_marked_by_how_late_and_linked_to_their_page(officers, today):
    """Overdue items were listed by due date among the others ("OVERDUE since" a date), a
    closed request's late outcome after every open one, and the mail linked to nothing."""
    from tests.privacy.conftest import receive, reject

    soon = _request("DSR-A", today + dt.timedelta(days=7))
    late = _request("DSR-B", today - dt.timedelta(days=1))
    closed = receive(officers, received_on=today - dt.timedelta(days=33))  # outcome 3 days late
    closed = reject(closed, officers, ground="no_data", reason="Not ours")
    assert reminders.send() == 3
    (email,) = mail.outbox
    assert email.subject == "Steward: 2 data-subject requests OVERDUE, 1 due soon"
    assert _reminder_lines(email.body) == [
        f"- {closed.reference} (Erasure (be forgotten), GDPR), rejected; tell the requester: "
        f"the outcome (OVERDUE by 3 days, was due {closed.due_on:%-d %B %Y}): {_page(closed)}",
        f"- DSR-B (Erasure (be forgotten), GDPR), received: OVERDUE by 1 day (was due "
        f"{late.due_on:%-d %B %Y}): {_page(late)}",
        f"- DSR-A (Erasure (be forgotten), GDPR), received: due in 7 days, on "
        f"{soon.due_on:%-d %B %Y}: {_page(soon)}",
    ]


def test_the_links_use_the_sites_public_address_in_production(officers, today, settings):
    """Beat answers no request to read the address from: as ``create_admin`` prints its link,
    https:// and the first of ALLOWED_HOSTS."""
    from django.urls import reverse

    request = _request("DSR-A", today)
    settings.PRODUCTION = True
    settings.ALLOWED_HOSTS = [".steward.example.com", "localhost"]
    reminders.send()
    path = reverse("privacy:request", args=[request.public_id])
    assert f": https://steward.example.com{path}" in mail.outbox[0].body


def _stuck(officers, today, *, due_in: int):
    """A request about the second officer, scoped by the first: neither may approve it."""
    from privacy import services
    from tests.privacy.conftest import receive

    second = officers[1]
    request = receive(
        officers,
        identifiers=[("email", second.email)],
        subject_user=second,
        received_on=today - dt.timedelta(days=30 - due_in),
    )
    request = services.verify_identity(request=request, actor=officers[0], method="Called")
    return services.scope_request(request=request, actor=officers[0])


def test_a_request_no_officer_may_approve_is_reminded_every_day_until_one_may(officers, today):
    """Its deadline runs while it waits for a third officer, whom a policy admin must name;
    the mail says so without saying whom the request is about."""
    from governance.roles import Role
    from tests.factories import make_user

    request = _stuck(officers, today, due_in=20)  # not a reminder day
    assert reminders.send() == 1
    (email,) = mail.outbox
    assert email.subject == "Steward: 1 request no officer may take further"
    assert "Ask a policy admin to give a third person the Privacy officer role" in email.body
    assert _reminder_lines(email.body) == [
        f"- {request.reference} (Erasure (be forgotten), GDPR), scoped, to be approved: due in "
        "20 days, on "
        f"{request.due_on:%-d %B %Y}: {_page(request)}"
    ]
    assert "omar" not in (email.subject + email.body).lower()
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED)
    assert event.details["nobody_may_approve"] == [request.reference]
    assert reminders.send() == 0, "once a day"
    SubjectRequest.objects.update(reminded_on=None)
    make_user("olga@corp.example", Role.PRIVACY_OFFICER, full_name="Olga")
    assert reminders.send() == 0, "Olga may approve it"


def test_a_rejection_no_officer_may_confirm_is_reminded_too(officers, today):
    """Two officers: the request about the second, the first proposed rejecting it."""
    from privacy import services
    from tests.privacy.conftest import receive

    request = receive(
        officers,
        identifiers=[("email", officers[1].email)],
        received_on=today - dt.timedelta(days=10),
    )
    services.propose_rejection(
        request=request, actor=officers[0], ground="no_data", reason="Nothing held about them."
    )
    assert reminders.send() == 1
    (email,) = mail.outbox
    assert "1 request no officer may take further" in email.subject
    (line,) = [line for line in _reminder_lines(email.body) if request.reference in line]
    assert "its proposed rejection, to be confirmed" in line
