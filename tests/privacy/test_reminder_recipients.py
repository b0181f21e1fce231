"""The officers' reminder names the completed erasures whose recipients are still to be told
(GDPR Art. 19, CCPA § 1798.105(c)), as the desk lists them: the reminder named requests due
and notices owed to the requester, and not the providers still to be asked to erase the data.

They come as the requester's notices do: from two days before the request's due date (the
letter telling the outcome names the providers asked) and every day after, once a day, and
counted as reminded only once the mail is sent."""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from privacy import notices, recipients, reminders
from privacy.models import RequesterNotice, SubjectRequest
from tests.privacy.conftest import SUBJECT_EMAIL
from tests.privacy.test_recipient_notices import (  # noqa: F401  (backends: a fixture)
    ALL_THREE,
    VENDOR,
    ZDR,
    _entry,
    _erasure,
    _tell,
    backends,
)

#: The backends the receipts name: one keeps what it receives (owed a notice), one keeps
#: nothing, one runs on the organisation's servers.
pytestmark = pytest.mark.usefixtures("backends")


@pytest.fixture
def today():
    return timezone.localdate()


def _completed(officers, capture, *, due_in: int, entries=ALL_THREE, person="jane.roe"):
    """A completed erasure owing its recipients in ``entries``, due ``due_in`` days from
    today, whose outcome the requester was told (so only its recipients are owed)."""
    request = _erasure(officers, capture, entries, identifiers=[("email", f"{person}@example.org")])
    due_on = timezone.localdate() + dt.timedelta(days=due_in)
    SubjectRequest.objects.filter(pk=request.pk).update(due_on=due_on)
    notices.record_notice(
        request=request,
        actor=officers[0],
        topic=RequesterNotice.Topic.OUTCOME,
        channel=RequesterNotice.Channel.EMAIL,
        told_on=timezone.localdate(),
    )
    return SubjectRequest.objects.get(pk=request.pk)


def _line(body: str, reference: str) -> str:
    return next(line for line in body.splitlines() if reference in line)


def test_an_erasure_whose_providers_are_still_to_be_told_is_reminded_without_whom_it_is_about(
    officers, django_capture_on_commit_callbacks, today, settings
):
    request = _completed(officers, django_capture_on_commit_callbacks, due_in=2)
    assert reminders.send() == 1
    (email,) = mail.outbox
    assert email.subject == "Steward: 1 erasure with recipients to tell"
    path = reverse("privacy:request", args=[request.public_id]) + "#recipients-told"
    link = f"http://127.0.0.1:{settings.PORT}{path}"  # beat's mail: the site's address
    assert _line(email.body, request.reference) == (
        f"- {request.reference}, completed on {today:%-d %B %Y}: 1 provider to tell, "
        f"by {request.due_on:%-d %B %Y}: {link}"
    )
    assert "GDPR Art. 19" in email.body
    written = (email.subject + email.body).lower()
    assert "jane" not in written and SUBJECT_EMAIL not in written and VENDOR not in email.body
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED)
    assert event.details["erasures_to_tell"] == [request.reference]
    assert event.details["requests"] == []
    assert SubjectRequest.objects.get(pk=request.pk).reminded_on == today
    assert reminders.send() == 0, "once a day"
    assert len(mail.outbox) == 1


def test_they_are_reminded_from_two_days_before_the_due_date_and_every_day_after(
    officers, django_capture_on_commit_callbacks, today
):
    capture = django_capture_on_commit_callbacks
    early = _completed(officers, capture, due_in=3, person="early")
    late = _completed(officers, capture, due_in=-4, person="late")
    assert [r.reference for r in reminders.recipients_to_tell(today)] == [late.reference]
    assert reminders.send() == 1
    line = _line(mail.outbox[0].body, late.reference)
    assert f"1 provider to tell, OVERDUE by 4 days, was due {late.due_on:%-d %B %Y}" in line
    assert early.reference not in mail.outbox[0].body

    tomorrow = today + dt.timedelta(days=1)
    assert {r.reference for r in reminders.recipients_to_tell(tomorrow)} == {
        early.reference,
        late.reference,
    }


def test_an_erasure_no_longer_owing_its_recipients_is_not_reminded(
    officers, django_capture_on_commit_callbacks, today
):
    capture = django_capture_on_commit_callbacks
    told = _completed(officers, capture, due_in=0, person="told")
    _completed(officers, capture, due_in=0, entries=[_entry(ZDR)], person="nobody")
    _tell(told, officers[1])
    assert reminders.recipients_to_tell(today) == []
    assert reminders.send() == 0 and mail.outbox == []


def test_one_mail_names_a_request_due_and_an_erasure_to_tell_and_counts_each_once(
    officers, django_capture_on_commit_callbacks, today
):
    """An erasure whose outcome is owed too is in both lists: one request reminded."""
    capture = django_capture_on_commit_callbacks
    both = _erasure(officers, capture, ALL_THREE, identifiers=[("email", "both@example.org")])
    SubjectRequest.objects.filter(pk=both.pk).update(due_on=today)
    to_tell = _completed(officers, capture, due_in=1, person="other")
    assert reminders.send() == 2
    (email,) = mail.outbox
    assert email.subject == (
        "Steward: 1 data-subject request due soon, 2 erasures with recipients to tell"
    )
    assert "tell the requester: the outcome" in _line(email.body, both.reference)
    assert email.body.count(both.reference) == 2 and email.body.count(to_tell.reference) == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED)
    assert event.details["requests"] == [both.reference]
    assert event.details["erasures_to_tell"] == [both.reference, to_tell.reference]
    assert reminders.send() == 0


def test_when_the_mail_fails_they_are_not_counted_as_reminded(
    officers, django_capture_on_commit_callbacks, today, monkeypatch
):
    request = _completed(officers, django_capture_on_commit_callbacks, due_in=0)

    def refused(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(reminders, "send_mail", refused)
    assert reminders.send() == 0
    assert SubjectRequest.objects.get(pk=request.pk).reminded_on is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_REMINDED).exists()
    monkeypatch.undo()
    assert reminders.send() == 1, "the next run tries again"


def test_they_are_found_in_the_same_queries_however_many_there_are(
    officers, django_capture_on_commit_callbacks, today
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    recipients.recorded_since()  # read once per process

    def queries(how_many: int) -> int:
        SubjectRequest.objects.update(reminded_on=None)
        with CaptureQueriesContext(connection) as captured:
            assert len(reminders.recipients_to_tell(today)) == how_many
        return len(captured)

    _completed(officers, django_capture_on_commit_callbacks, due_in=0, person="p0")
    one = queries(1)
    for number in range(1, 4):
        _completed(officers, django_capture_on_commit_callbacks, due_in=0, person=f"p{number}")
    assert queries(4) == one == 2
