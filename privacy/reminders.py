"""Reminders: one email a day to the privacy officers while a request is due soon or overdue,
a completed erasure's recipients are still to be told, a scoped request has no officer who may
approve it, an access copy waits for an officer's check, or a legal hold's release waits for a
second officer. Overdue items come first, and each links to its page. An officer a request or
a hold is about reads nothing of a proposed rejection, of their own copy's check, or of the
hold's release there."""

import datetime as dt
import logging
from collections import defaultdict

from django.core.mail import send_mail
from django.db import transaction
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from config.mail import site_address
from governance.access import role_holders
from governance.models import User
from governance.roles import Role
from privacy import access, approval_mail, notices, policy, recipients
from privacy.models import LegalHold, SubjectRequest

log = logging.getLogger(__name__)


def _deadline(due_on: dt.date, today: dt.date) -> str:
    """A deadline in words: "by 3 May 2026", or "OVERDUE by 2 days, was due 1 May 2026"."""
    day = date_filter(due_on, "j F Y")
    if late := policy.days_overdue(due_on, today):
        return f"OVERDUE by {late} day{pluralize(late)}, was due {day}"
    return f"by {day}"


def _when_due(request: SubjectRequest, today: dt.date) -> str:
    """An open request's due date in words: in how many days, today, or how late it is."""
    day = date_filter(request.due_on, "j F Y")
    left = policy.days_left(request.due_on, today)
    if left < 0:
        return f"OVERDUE by {-left} day{pluralize(-left)} (was due {day})"
    if left == 0:
        return "due TODAY"
    return f"due in {left} day{pluralize(left)}, on {day}"


def _link(request: SubjectRequest, base: str, anchor: str = "") -> str:
    return base + reverse("privacy:request", args=[request.public_id]) + anchor


def due_for_reminder(today) -> list[SubjectRequest]:
    """Requests not reminded today that are open and on a reminder day (7, 2, 0 days before)
    or overdue, or owe the requester something due within ``REMIND_TELLING_DAYS_BEFORE``
    days (``telling_due``: each with its deadline in words): a closed request owes its
    outcome. The overdue first, the most overdue first; each with ``overdue_by`` (days, 0
    when nothing is overdue) and, when open, ``when_due``."""
    not_reminded = SubjectRequest.objects.listed().with_notices().exclude(reminded_on=today)
    closed_owing = not_reminded.exclude(status__in=SubjectRequest.OPEN).filter(told_outcome=False)
    if since := notices.recorded_since():
        closed_owing = closed_owing.filter(completed_at__gte=since)
    due = []
    for request in [*not_reminded.filter(status__in=SubjectRequest.OPEN), *closed_owing]:
        telling_due = [
            item
            for item in notices.owed(request, notices.told_topics(request))
            if item.due_on is not None
            and policy.days_left(item.due_on, today) <= policy.REMIND_TELLING_DAYS_BEFORE
        ]
        if telling_due or (
            request.is_open
            and ((left := request.days_left(today)) in policy.REMIND_DAYS_BEFORE or left < 0)
        ):
            due.append(_in_words(request, telling_due, today))
    return sorted(due, key=lambda request: -request.overdue_by)


def _in_words(request: SubjectRequest, telling_due: list, today: dt.date) -> SubjectRequest:
    """Give ``request`` its reminder line's deadlines in words, and how overdue it is: the
    latest of its own due date (open) and of what the requester is still to be told."""
    request.telling_due = [(item, _deadline(item.due_on, today)) for item in telling_due]
    request.when_due = _when_due(request, today) if request.is_open else ""
    late = [policy.days_overdue(item.due_on, today) for item in telling_due]
    if request.is_open:
        late.append(policy.days_overdue(request.due_on, today))
    request.overdue_by = max(late, default=0)
    return request


def recipients_to_tell(today) -> list[SubjectRequest]:
    """Completed erasures whose recipients are still to be told (the desk's list, oldest first,
    the overdue before the others), not reminded today, due as the requester's notices are:
    from ``REMIND_TELLING_DAYS_BEFORE`` days before the request's due date (the letter that
    tells the outcome names the providers asked), and every day after. Each with
    ``recipients_to_tell``, ``due_on``, ``overdue_by``, ``deadline`` (in words) and ``link``
    (where the notices are recorded, on :func:`config.mail.site_address`). Two queries,
    however many."""
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
    base = site_address()
    for request in found:
        request.due_on = due[request.pk]
        request.overdue_by = policy.days_overdue(request.due_on, today)
        request.deadline = _deadline(request.due_on, today)
        request.link = _link(request, base, "#recipients-told")
    return sorted(found, key=lambda request: -request.overdue_by)


def nobody_may_approve(today, officers: list[User]) -> list[SubjectRequest]:
    """Open requests, not reminded today, that none of ``officers`` (the active privacy
    officers) may take further: a scoped one nobody may approve (with two, one scoped a
    request about the other), or one whose proposed rejection nobody may confirm (one
    proposed it, it is about the other). Its deadline runs until a policy admin names a
    third officer, so it is reminded every day, each with ``when_due`` and ``waits_for`` (the
    step in words). One query."""
    waiting = list(
        SubjectRequest.objects.listed()
        .filter(status__in=SubjectRequest.REJECTABLE)
        .exclude(reminded_on=today)
    )
    steps = approval_mail.step_nobody_may_take(waiting, officers=officers)
    stuck = [request for request in waiting if steps[request.pk]]
    for request in stuck:
        request.waits_for = _WAITS_FOR[steps[request.pk]]
        request.when_due = _when_due(request, today)
    return stuck


#: An access copy is reminded once it has waited this many days for its check, and every day after.
COPY_CHECK_REMIND_AFTER_DAYS = 2


def copies_to_check(today) -> list[SubjectRequest]:
    """Access copies waiting for an officer's check (the desk's list) for more than a day,
    not reminded today: the overdue first, then the longest waiting. Each with ``waiting``
    (days since the copy was made), ``overdue_by`` (days past the due date so far: the person
    has their answer only once it is released), ``deadline`` (in words) and ``link`` (where
    the check is made, on :func:`config.mail.site_address`). One query."""
    made_before = today - dt.timedelta(days=COPY_CHECK_REMIND_AFTER_DAYS - 1)
    found = list(
        SubjectRequest.objects.listed()
        .copies_being_checked()
        .filter(completed_at__date__lt=made_before)
        .exclude(reminded_on=today)
        .order_by("completed_at")
    )
    base = site_address()
    for request in found:
        request.waiting = request.days_copy_waited(today)
        request.overdue_by = request.days_overdue(today)
        request.deadline = _deadline(request.due_on, today)
        request.link = _link(request, base, "#copy-check")
    return sorted(found, key=lambda request: -request.overdue_by)


#: The step a request no officer may take further waits for, in the reminder's words.
_WAITS_FOR = {
    approval_mail.APPROVE: "scoped, to be approved",
    approval_mail.CONFIRM: "its proposed rejection, to be confirmed",
}


def releases_waiting(today) -> list[LegalHold]:
    """Active holds whose release was asked before today (the asker tells a colleague
    first) and still waits for a second officer, not reminded today."""
    return list(
        LegalHold.objects.filter(
            released_at__isnull=True,
            release_asked_at__date__lt=today,
        )
        .exclude(release_reminded_on=today)
        .select_related("release_asked_by", "conversation")  # whom it is about: is_about
        .order_by("release_asked_at")
    )


def _overdue_note(items: list) -> str:
    """How many of ``items`` are overdue, for the subject line: "", " (OVERDUE)" for all of
    them, or " (1 OVERDUE)"."""
    late = sum(1 for item in items if item.overdue_by)
    return "" if not late else " (OVERDUE)" if late == len(items) else f" ({late} OVERDUE)"


def _subject(listed: dict) -> str:
    """What one mail lists (its template's lists), in counts, what is overdue first ("2
    data-subject requests OVERDUE, 1 due soon")."""
    parts = []
    if requests := listed["requests"]:
        late = sum(1 for request in requests if request.overdue_by)
        soon = len(requests) - late
        if not late:
            parts.append(f"{soon} data-subject request{pluralize(soon)} due soon")
        else:
            due_soon = f", {soon} due soon" if soon else ""
            parts.append(f"{late} data-subject request{pluralize(late)} OVERDUE{due_soon}")
    if to_tell := listed["to_tell"]:
        overdue = _overdue_note(to_tell)
        parts.append(f"{len(to_tell)} erasure{pluralize(to_tell)} with recipients to tell{overdue}")
    if copies := listed["copies"]:
        overdue = _overdue_note(copies)
        parts.append(f"{len(copies)} access cop{pluralize(copies, 'y,ies')} to check{overdue}")
    if stuck := listed["nobody_may_approve"]:
        parts.append(f"{len(stuck)} request{pluralize(stuck)} no officer may take further")
    if holds := listed["holds"]:
        parts.append(f"{len(holds)} legal hold{pluralize(holds)} to confirm")
    parts.sort(key=lambda part: "OVERDUE" not in part)
    return "Steward: " + ", ".join(parts)


def send() -> int:
    """Email every privacy officer the requests due soon or overdue, the erasures whose
    recipients are still to be told, the access copies waiting for their check, the requests
    no officer may take further and the hold releases waiting for a second officer, each with
    its link; the number of requests (one may be in several lists: once) and holds reminded.

    An officer a request or a hold is about reads nothing of its proposed rejection, of their
    own copy's check, or of the hold's release (:func:`_mails`): they may get a mail of their
    own, or none.

    They count as reminded (and the reminder is audited) only once the mail server has
    accepted every mail: when one fails, or when there is no active privacy officer to send
    it to, that is logged and the next hourly run tries again.
    """
    today = timezone.localdate()
    requests = due_for_reminder(today)
    to_tell = recipients_to_tell(today)
    copies = copies_to_check(today)
    holds = releases_waiting(today)
    officer_accounts = list(role_holders(Role.PRIVACY_OFFICER))
    stuck = nobody_may_approve(today, officer_accounts)
    reminded = {request.pk for request in [*requests, *to_tell, *copies, *stuck]}
    if not reminded and not holds:
        return 0
    if not officer_accounts:
        log.warning(
            "Reminder for %d request(s) and %d hold release(s) not sent: there is no active "
            "privacy officer to send it to; the next run tries again.",
            len(reminded),
            len(holds),
        )
        return 0
    base = site_address()
    for request in [*requests, *stuck]:
        request.link = _link(request, base)
    lists = {
        "requests": requests,
        "to_tell": to_tell,
        "copies": copies,
        "nobody_may_approve": stuck,
        "holds": [(h, (today - timezone.localdate(h.release_asked_at)).days) for h in holds],
    }
    mails = _mails(officer_accounts, lists, today)
    if not mails:  # all of it about the officers there are: nobody may read it
        return 0
    try:
        for subject, body, addresses in mails:
            send_mail(subject, body, None, addresses)
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
                "copies_to_check": [r.reference for r in copies],
                "nobody_may_approve": [r.reference for r in stuck],
                "holds": [str(h.public_id) for h in holds],
                "recipients": sum(len(addresses) for _, _, addresses in mails),
            },
        )
    return len(reminded) + len(holds)


def _mails(officers: list[User], lists: dict, today) -> list[tuple[str, str, list[str]]]:
    """The reminder's mails, each a subject, a body and the officers it goes to: one for all
    of them, unless a line is about one of them (:func:`_not_for`). They read the lists
    without it, in a mail of their own, or none if nothing is left."""
    readers: dict[frozenset, list[str]] = defaultdict(list)
    for officer in officers:
        readers[_not_for(officer, lists)].append(officer.email)
    mails = []
    for left_out, addresses in readers.items():
        theirs = {
            "requests": lists["requests"],
            "to_tell": lists["to_tell"],
            "copies": [c for c in lists["copies"] if ("copy", c.pk) not in left_out],
            "nobody_may_approve": [
                r for r in lists["nobody_may_approve"] if ("proposal", r.pk) not in left_out
            ],
            "holds": [(h, days) for h, days in lists["holds"] if ("hold", h.pk) not in left_out],
        }
        if not any(theirs.values()):
            continue
        body = render_to_string(
            "privacy/email/reminder.txt",
            {
                **theirs,
                "telling_days": policy.REMIND_TELLING_DAYS_BEFORE,
                "copy_days": COPY_CHECK_REMIND_AFTER_DAYS,
                "today": today,
            },
        )
        mails.append((_subject(theirs), body, addresses))
    return mails


def _not_for(officer: User, lists: dict) -> frozenset[tuple[str, int]]:
    """The lines ``officer`` does not read, as ("proposal" | "copy" | "hold", pk). The person a
    request is about hears nothing of a proposal to reject it, nor does an officer it is
    about; an officer does not check their own access copy, nor confirm a hold's release on
    their own conversations (the desk hides its details from them too)."""
    return frozenset(
        [
            *(
                ("proposal", request.pk)
                for request in lists["nobody_may_approve"]
                if request.rejection_proposed and access.is_about(request, officer)
            ),
            *(
                ("copy", request.pk)
                for request in lists["copies"]
                if access.is_about(request, officer)
            ),
            *(("hold", hold.pk) for hold, _ in lists["holds"] if hold.is_about(officer)),
        ]
    )
