"""Deadline reminders: one email a day to the privacy officers while a request is due soon."""

import logging

from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from governance.access import role_holders
from governance.roles import Role
from privacy import notices, policy
from privacy.models import SubjectRequest

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


def send() -> int:
    """Email every privacy officer the requests due soon; the number of requests reminded.

    A request counts as reminded (and the reminder is audited) only once the mail server
    has accepted the mail: when it fails, or when there is no active privacy officer to
    send it to, that is logged and the next hourly run tries again.
    """
    today = timezone.localdate()
    requests = due_for_reminder(today)
    if not requests:
        return 0
    officers = list(role_holders(Role.PRIVACY_OFFICER).values_list("email", flat=True))
    if not officers:
        log.warning(
            "Deadline reminder for %d request(s) not sent: there is no active privacy officer "
            "to send it to; the next run tries again.",
            len(requests),
        )
        return 0
    body = render_to_string(
        "privacy/email/reminder.txt",
        {"rows": [(r, r.days_left(today)) for r in requests], "today": today},
    )
    try:
        send_mail(
            f"Steward: {len(requests)} data-subject request(s) due soon",
            body,
            None,
            officers,
        )
    except Exception as exc:  # smtplib's errors, and a mail service library's own
        # The exception's text may quote the officers' addresses: its type only.
        log.warning(
            "Deadline reminder for %d request(s) not sent (%s); the next run tries again.",
            len(requests),
            type(exc).__name__,
        )
        return 0
    with transaction.atomic():
        SubjectRequest.objects.filter(pk__in=[r.pk for r in requests]).update(reminded_on=today)
        record(
            action=AuditEvent.Action.DSR_REMINDED,
            details={
                "requests": [r.reference for r in requests],
                "overdue": sum(r.is_open and r.days_left(today) < 0 for r in requests),
                "recipients": len(officers),
            },
        )
    return len(requests)
