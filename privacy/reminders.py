"""Reminders: one email a day to the privacy officers while a request is due soon, a
completed erasure's recipients are still to be told, or a legal hold's release waits for a
second officer."""

import datetime as dt
import logging

from django.core.mail import send_mail
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from governance.access import role_holders
from governance.roles import Role
from privacy import notices, policy, recipients
from privacy.models import LegalHold, SubjectRequest

log = logging.getLogger(__name__)


def due_for_reminder(today) -> list[SubjectRequest]:
    """Requests not reminded today that are open and on a reminder day (7, 2, 0 days before)
    or overdue, or owe the requester something due within ``REMIND_TELLING_DAYS_BEFORE``
    days (``telling_due``): a closed request owes its outcome."""
    not_reminded = SubjectRequest.objects.listed().with_notices().exclude(reminded_on=today)
    closed_owing = not_reminded.exclude(status__in=SubjectRequest.OPEN).filter(told_outcome=False)
    if since := notices.recorded_since():
        closed_owing = closed_owing.filter(completed_at__gte=since)
    due = []
    for request in [*not_reminded.filter(status__in=SubjectRequest.OPEN), *closed_owing]:
        request.telling_due = [
            item
            for item in notices.owed(request, notices.told_topics(request))
            if item.due_on is not None
            and policy.days_left(item.due_on, today) <= policy.REMIND_TELLING_DAYS_BEFORE
        ]
        if request.telling_due or (
            request.is_open
            and ((left := request.days_left(today)) in policy.REMIND_DAYS_BEFORE or left < 0)
        ):
            due.append(request)
    return due


def recipients_to_tell(today) -> list[SubjectRequest]:
    """Completed erasures whose recipients are still to be told (the desk's list, oldest first),
    not reminded today, due as the requester's notices are: from ``REMIND_TELLING_DAYS_BEFORE``
    days before the request's due date (the letter that tells the outcome names the providers
    asked), and every day after. Each with ``recipients_to_tell``, ``due_on``, ``late`` and
    ``link`` (a path: beat knows no site address). Two queries, however many there are."""
    owing = recipients.erasures_to_tell()
    if not owing:
        return []
    due = dict(
        SubjectRequest.objects.filter(
            pk__in=[request.pk for request in owing],
            due_on__lte=today + dt.timedelta(days=policy.REMIND_TELLING_DAYS_BEFORE),
        )
        .exclude(reminded_on=today)
        .values_list("pk", "due_on")
    )
    found = [request for request in owing if request.pk in due]
    for request in found:
        request.due_on = due[request.pk]
        request.late = policy.days_left(request.due_on, today) < 0
        request.link = reverse("privacy:request", args=[request.public_id]) + "#recipients-told"
    return found


def releases_waiting(today) -> list[LegalHold]:
    """Active holds whose release was asked before today (the asker tells a colleague
    first) and still waits for a second officer, not reminded today."""
    return list(
        LegalHold.objects.filter(
            released_at__isnull=True,
            release_asked_at__date__lt=today,
        )
        .exclude(release_reminded_on=today)
        .select_related("release_asked_by")
        .order_by("release_asked_at")
    )


def _subject(requests: list, to_tell: list, holds: list) -> str:
    parts = []
    if requests:
        parts.append(f"{len(requests)} data-subject request{pluralize(requests)} due soon")
    if to_tell:
        parts.append(f"{len(to_tell)} erasure{pluralize(to_tell)} with recipients to tell")
    if holds:
        parts.append(f"{len(holds)} legal hold{pluralize(holds)} to confirm")
    return "Steward: " + ", ".join(parts)


def send() -> int:
    """Email every privacy officer the requests due soon, the erasures whose recipients are
    still to be told and the hold releases waiting for a second officer; the number of
    requests (an erasure may be in both lists: once) and holds reminded.

    They count as reminded (and the reminder is audited) only once the mail server has
    accepted the mail: when it fails, or when there is no active privacy officer to send it
    to, that is logged and the next hourly run tries again.
    """
    today = timezone.localdate()
    requests = due_for_reminder(today)
    to_tell = recipients_to_tell(today)
    holds = releases_waiting(today)
    reminded = {request.pk for request in [*requests, *to_tell]}
    if not reminded and not holds:
        return 0
    officers = list(role_holders(Role.PRIVACY_OFFICER).values_list("email", flat=True))
    if not officers:
        log.warning(
            "Reminder for %d request(s) and %d hold release(s) not sent: there is no active "
            "privacy officer to send it to; the next run tries again.",
            len(reminded),
            len(holds),
        )
        return 0
    body = render_to_string(
        "privacy/email/reminder.txt",
        {
            "rows": [(r, r.days_left(today)) for r in requests],
            "to_tell": to_tell,
            "telling_days": policy.REMIND_TELLING_DAYS_BEFORE,
            "holds": [(h, (today - timezone.localdate(h.release_asked_at)).days) for h in holds],
            "today": today,
        },
    )
    try:
        send_mail(_subject(requests, to_tell, holds), body, None, officers)
    except Exception as exc:  # smtplib's errors, and a mail service library's own
        # The exception's text may quote the officers' addresses: its type only.
        log.warning(
            "Reminder for %d request(s) and %d hold release(s) not sent (%s); the next run "
            "tries again.",
            len(reminded),
            len(holds),
            type(exc).__name__,
        )
        return 0
    with transaction.atomic():
        SubjectRequest.objects.filter(pk__in=reminded).update(reminded_on=today)
        LegalHold.objects.filter(pk__in=[h.pk for h in holds]).update(release_reminded_on=today)
        record(
            action=AuditEvent.Action.DSR_REMINDED,
            details={
                "requests": [r.reference for r in requests],
                "overdue": sum(r.is_open and r.days_left(today) < 0 for r in requests),
                "erasures_to_tell": [r.reference for r in to_tell],
                "holds": [str(h.public_id) for h in holds],
                "recipients": len(officers),
            },
        )
    return len(reminded) + len(holds)
