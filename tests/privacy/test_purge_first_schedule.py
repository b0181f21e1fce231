"""A new installation's first purge schedule is 02:30 on the company's clock (TIME_ZONE), the
clock the privacy desk's purge page types times in; an installation that already has one keeps
it."""

import importlib

from django.apps import apps
from django.test import override_settings
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from privacy import services

migration = importlib.import_module("privacy.migrations.0002_purge_schedule")


def _empty() -> None:
    """As before the migration ran (a reused test database already holds its row)."""
    PeriodicTask.objects.filter(name=services.PURGE_TASK_NAME).delete()
    CrontabSchedule.objects.all().delete()


@override_settings(TIME_ZONE="Europe/Berlin")
def test_it_schedules_a_new_installations_purge_at_half_past_two_local_time(db):
    _empty()
    migration.create_schedule(apps, None)
    schedule = services.purge_schedule()
    assert (schedule.crontab.hour, schedule.crontab.minute) == ("2", "30")
    assert str(schedule.crontab.timezone) == "Europe/Berlin"
    assert services.schedule_label(schedule) == "daily at 02:30 Europe/Berlin"
    assert services.schedule_in_local_time(schedule) == (2, 30)  # the page offers 02:30


def test_it_leaves_an_installations_schedule_where_it_is(db, settings):
    """Made while TIME_ZONE was UTC: a later run (another zone) neither moves nor adds one."""
    _empty()
    settings.TIME_ZONE = "UTC"
    migration.create_schedule(apps, None)
    settings.TIME_ZONE = "Europe/Berlin"
    migration.create_schedule(apps, None)
    assert PeriodicTask.objects.filter(name=services.PURGE_TASK_NAME).count() == 1
    assert str(services.purge_schedule().crontab.timezone) == "UTC"
