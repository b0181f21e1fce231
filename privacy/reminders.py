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
from privacy import policy
from privacy.models import SubjectRequest

log = logging.getLogger(__name__)


def due_for_reminder(today) -> list[SubjectRequest]:
    """Open requests on a reminder day (7, 2, 0 days before) or overdue, not reminded today."""
    open_requests = (
        SubjectRequest.objects.listed()
        .filter(status__in=SubjectRequest.OPEN)
        .exclude(reminded_on=today)
    )
    return [
        request
        for request in open_requests
        if request.days_left(today) in policy.REMIND_DAYS_BEFORE or request.days_left(today) < 0
    ]


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
                "overdue": sum(r.days_left(today) < 0 for r in requests),
                "recipients": len(officers),
            },
        )
    return len(requests)
