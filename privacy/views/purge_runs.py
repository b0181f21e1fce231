"""Purges: the runs so far, a run started now, the schedule, and one run's progress."""

from uuid import UUID

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from privacy import access, purge, services
from privacy.forms import ScheduleForm
from privacy.models import PurgeRun
from privacy.services import PrivacyError
from privacy.views.common import _go, _polling, officer


@require_GET
@officer
def purges(request: HttpRequest) -> HttpResponse:
    schedule = services.purge_schedule()
    initial = {"hour": 2, "minute": 30, "enabled": True}
    if (local := services.schedule_in_local_time(schedule)) is not None:
        initial = {"hour": local[0], "minute": local[1], "enabled": schedule.enabled}
    ctx = {
        "runs": PurgeRun.objects.select_related("triggered_by")[:50],
        "preview": purge.preview() if request.GET.get("preview") else None,
        "schedule_label": services.schedule_label(schedule),
        "schedule_form": ScheduleForm(initial=initial),
    }
    return render(request, "privacy/purges.html", ctx)


@require_POST
@officer
def purge_now(request: HttpRequest) -> HttpResponse:
    try:
        with transaction.atomic():
            run = services.start_purge(actor=request.user)
    except PrivacyError as exc:
        messages.error(request, str(exc))
        return _go(request, reverse("privacy:purges"))
    return _go(request, reverse("privacy:purge", args=[run.public_id]))


@require_POST
@officer
def purge_schedule(request: HttpRequest) -> HttpResponse:
    form = ScheduleForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        services.set_purge_schedule(
            actor=request.user, hour=data["hour"], minute=data["minute"], enabled=data["enabled"]
        )
        messages.success(request, "Purge schedule saved.")
    else:
        messages.error(request, "The time must be an hour from 0 to 23 and a minute from 0 to 59.")
    return _go(request, reverse("privacy:purges"))


@require_GET
@officer
def purge_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    run = access.get_purge_for_officer(request.user, public_id)
    template = "privacy/purge_detail.html"
    polling = _polling(request, "purge-progress")
    if polling:
        template += "#purge-progress"
    # A poll that finds the run over says so once, in the status line the page keeps.
    ended = polling and run.status != PurgeRun.Status.RUNNING
    return render(request, template, {"run": run, "now": timezone.now(), "announce": ended})
