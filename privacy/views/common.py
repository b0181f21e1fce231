"""What the privacy views share: the officer check, answers that suit htmx, request lines.

Pages post normally without JavaScript (redirect after success). With htmx,
invalid input answers 422 with the form's partial, success navigates with
``HX-Redirect``, and running jobs refresh their progress partial by polling.
"""

import datetime as dt
import functools
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_htmx.http import HttpResponseClientRedirect

from governance.access import role_required
from governance.roles import Role
from privacy import policy
from privacy.models import SubjectRequest

officer = role_required(Role.PRIVACY_OFFICER)


def _go(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _polling(request: HttpRequest, target: str) -> bool:
    return bool(request.htmx) and request.htmx.target == target


def _posted_moment(request: HttpRequest, name: str) -> dt.datetime | None:
    """The moment a page posted back as ``name`` (the ask or proposal it read), None when
    missing or garbled: the step then refuses it as changed since."""
    try:
        return parse_datetime(request.POST.get(name, ""))
    except ValueError:
        return None


def _form_page(request, template, partial, ctx) -> HttpResponse:
    status = 422 if ctx["form"].errors else 200
    if request.htmx and request.method == "POST":
        template += f"#{partial}"
    return render(request, template, ctx, status=status)


#: A request's status badge (plain for the other states).
_BADGES = {
    SubjectRequest.Status.COMPLETED: "badge badge-ok",
    SubjectRequest.Status.REJECTED: "badge badge-danger",
    SubjectRequest.Status.FAILED: "badge badge-danger",
    SubjectRequest.Status.EXECUTING: "badge badge-warn",
}


def _request_lines(requests, *, today: dt.date) -> None:
    """Give each request what its line shows (privacy/partials/request_table.html, and its
    status and due partials), in words, worked out once: its link, its days (each date
    formatted once, however many lines share it), its badge and the days ``left`` until it is
    due. A template's includes and filters per line were four fifths of the desk's time with
    500 open requests (bench/privacy_desk.py)."""
    page = _url_of_each("privacy:request")
    day = functools.cache(lambda value: date_filter(value, "j M Y"))
    for listed in requests:
        listed.url = page(listed.public_id)
        listed.received_label = day(listed.received_on)
        listed.kind_label = listed.get_kind_display().partition(" (")[0]
        listed.badge = _BADGES.get(listed.status, "badge")
        listed.left = policy.days_left(listed.due_on, today)
        listed.due_label = day(listed.due_on)
        completed = listed.completed_at
        listed.closed_label = day(timezone.localdate(completed)) if completed else "—"


def _url_of_each(name: str):
    """``reverse(name, args=[public_id])`` for many ids at the price of one (the desk links
    every line it lists)."""
    blank = str(UUID(int=0))
    pattern = reverse(name, args=[blank])
    return lambda public_id: pattern.replace(blank, str(public_id))
