"""The retention purge's schedule: a django-celery-beat row the privacy desk edits (daily, 02:30
on the company's clock, TIME_ZONE, in which the desk's purge page types times).

An installation that ran this before it read TIME_ZONE keeps its 02:30 UTC: the page shows
that in local time, and saving it keeps it there.
"""

from django.conf import settings
from django.db import migrations

PURGE_TASK_NAME = "retention-purge"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=PURGE_TASK_NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.create(
        name=PURGE_TASK_NAME,
        task="privacy.tasks.purge_expired",
        crontab=crontab,
        queue="maintenance",
        description="Deletes conversations past their category's retention window.",
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=PURGE_TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
