"""The privacy desk: an officer's open requests, holds, purges and retention windows."""

import datetime as dt
import functools

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.views.decorators.http import require_GET

from governance.models import Category
from privacy import access, approval_mail, notices, purge, recipients, services
from privacy.models import LegalHold, PurgeRun, SubjectRequest
from privacy.views.common import _request_lines, _url_of_each, officer

RECENT = 20


@require_GET
@officer
def desk(request: HttpRequest) -> HttpResponse:
    """Open requests by due date, active holds, the last purges and the retention windows.

    Every open request and every erasure with providers to tell is listed: officers see
    their whole backlog, each line worked out once (:func:`_request_lines`), with what the
    requester is still to be told (``to_tell``: each with its last day), and a proposed
    rejection (``proposal_shown``) unless the request is about the officer reading. The
    access copies waiting for an officer's check are listed apart (:func:`_copies_to_check`):
    completed, they are no longer open, but the person is still waiting.
    """
    today = timezone.localdate()
    requests = SubjectRequest.objects.listed().with_notices()
    open_requests = list(requests.filter(status__in=SubjectRequest.OPEN))
    closed = list(
        requests.exclude(status__in=SubjectRequest.OPEN).order_by("-completed_at")[:RECENT]
    )
    _request_lines(open_requests + closed, today=today)
    day_and_month = functools.cache(lambda value: date_filter(value, "j M"))
    for listed in open_requests + closed:
        listed.to_tell = [
            (item, day_and_month(item.due_on) if item.due_on else "")
            for item in notices.owed(listed, notices.told_topics(listed))
        ]
    for listed in open_requests:
        listed.yours_to_approve = (
            access.yours_to_approve(listed, request.user) and not listed.rejection_proposed
        )
        # Not to the officer it is about, who hears of a proposal as the person does: never.
        listed.proposal_shown = listed.rejection_proposed and not access.is_about(
            listed, request.user
        )
    for listed in closed:
        listed.proposal_shown = False
    _flag_those_nobody_may_take_further(open_requests)
    erasures_to_tell = recipients.erasures_to_tell()
    completed_page = _url_of_each("privacy:request")
    for erasure in erasures_to_tell:
        erasure.url = completed_page(erasure.public_id)
    holds = list(
        LegalHold.objects.filter(released_at__isnull=True).select_related(
            "user", "conversation", "placed_by"
        )
    )
    copies_to_check = _copies_to_check(request.user, today=today)
    runs = list(PurgeRun.objects.select_related("triggered_by")[:5])
    purge_alarm, purge_alarm_run = purge.left_behind(recent_runs=runs)
    return render(
        request,
        "privacy/desk.html",
        {
            "open_requests": open_requests,
            "closed_requests": closed,
            "overdue": sum(r.left < 0 for r in open_requests),
            "to_approve": sum(r.yours_to_approve for r in open_requests),
            "copies_to_check": copies_to_check,
            "copies_yours_to_check": sum(not c.about_you for c in copies_to_check),
            "copies_late": any(c.late for c in copies_to_check),
            "holds": holds,
            "holds_about_you": {hold.pk for hold in holds if hold.is_about(request.user)},
            "holds_to_confirm": {
                hold.pk for hold in holds if access.yours_to_confirm(hold, request.user)
            },
            "runs": runs,
            "categories": Category.objects.filter(is_active=True),
            "schedule_label": services.schedule_label(services.purge_schedule()),
            "erasures_to_finish": services.erasures_to_finish(),
            "erasures_to_tell": erasures_to_tell,
            "purge_alarm": purge_alarm,
            "purge_alarm_run": purge_alarm_run,
        },
    )


def _copies_to_check(officer, *, today: dt.date) -> list[SubjectRequest]:
    """The access copies waiting for an officer's check before the person may download them,
    the longest waiting first, in one query; each with its page's ``url``, ``waiting`` (days
    since the copy was made), ``late`` (days past its due date so far: the person has their
    answer only once it is released) and ``about_you``: ``officer`` may not check their own
    copy, and its page shows it to them as the person reads it."""
    copies = list(
        SubjectRequest.objects.listed()
        .copies_being_checked()
        .select_related("subject_user")
        .order_by("completed_at")
    )
    page = _url_of_each("privacy:request")
    for listed in copies:
        listed.url = page(listed.public_id)
        listed.waiting = listed.days_copy_waited(today)
        listed.late = listed.days_overdue(today)
        listed.about_you = access.is_about(listed, officer)
    return copies


def _flag_those_nobody_may_take_further(open_requests: list[SubjectRequest]) -> None:
    """Set ``nobody_may_approve`` and ``nobody_may_confirm`` on each line, as its own page
    says them (:func:`privacy.approval_mail.step_nobody_may_take`): its deadline runs while
    it waits for a third officer."""
    steps = approval_mail.step_nobody_may_take(open_requests)
    for listed in open_requests:  # set on every line: a template's lookup of one not set is slow
        listed.nobody_may_approve = steps[listed.pk] == approval_mail.APPROVE
        listed.nobody_may_confirm = steps[listed.pk] == approval_mail.CONFIRM
