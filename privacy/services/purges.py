"""The retention purge as officers run it: started by hand, or moved on its daily schedule."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from governance.models import User
from privacy.services.common import PrivacyError

PURGE_TASK_NAME = "retention-purge"


def start_purge(*, actor: User):
    """A privacy officer's "Purge now": opened here (refused while one runs), run by a worker."""
    from privacy import purge
    from privacy.tasks import purge_expired

    try:
        run = purge.start(actor=actor)
    except purge.PurgeBusy as exc:
        raise PrivacyError(f"{exc} Wait for it to finish.") from None
    transaction.on_commit(lambda: purge_expired.delay(run.pk))
    return run


def purge_schedule():
    """The beat row that runs the purge (None if someone deleted it)."""
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask.objects.select_related("crontab").filter(name=PURGE_TASK_NAME).first()


def set_purge_schedule(*, actor: User, hour: int, minute: int, enabled: bool):
    """Move the daily purge to ``hour:minute`` in the company's time zone (``TIME_ZONE``:
    beat reads each crontab in its own), or pause it; beat picks the change up."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    with transaction.atomic():
        task = purge_schedule()
        before = _schedule_dict(task)
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(minute),
            hour=str(hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        if task is None:
            task = PeriodicTask(
                name=PURGE_TASK_NAME, task="privacy.tasks.purge_expired", queue="maintenance"
            )
        task.crontab = crontab
        task.enabled = enabled
        task.save()
        record(
            action=AuditEvent.Action.RETENTION_SCHEDULE_CHANGED,
            actor=actor,
            before=before,
            after=_schedule_dict(task),
        )
    return task


def schedule_label(task) -> str:
    """How a person reads the purge schedule: "daily at 02:30 UTC" (the time in the zone it
    was set in), or that it is paused."""
    described = _schedule_dict(task)
    if described is None:
        return "only when started by hand (no schedule yet: save a time)"
    if not described["enabled"]:
        return "only when started by hand (the schedule is paused)"
    return f"daily at {described['time']}"


def _schedule_dict(task) -> dict | None:
    if task is None or task.crontab is None:
        return None
    hour, minute = task.crontab.hour, task.crontab.minute
    if hour.isdigit() and minute.isdigit():
        zone = str(task.crontab.timezone)
        return {"time": f"{int(hour):02d}:{int(minute):02d} {zone}", "enabled": task.enabled}
    return {"time": f"cron {minute} {hour}", "enabled": task.enabled}


def schedule_in_local_time(task) -> tuple[int, int] | None:
    """The schedule's hour and minute as a clock in ``TIME_ZONE`` shows them today (a
    schedule set in another zone, such as the first one's UTC, moved to this one), or None
    if it is no daily time."""
    if task is None or task.crontab is None:
        return None
    hour, minute = task.crontab.hour, task.crontab.minute
    if not (hour.isdigit() and minute.isdigit()):
        return None
    zone = ZoneInfo(str(task.crontab.timezone))
    there = dt.datetime.combine(timezone.localdate(), dt.time(int(hour), int(minute)), zone)
    here = timezone.localtime(there)
    return here.hour, here.minute
