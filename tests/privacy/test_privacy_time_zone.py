"""Days the privacy desk names are the company's days (TIME_ZONE), not UTC's: a step taken
in the morning in Auckland is on the previous day in UTC, and one taken in the evening in Los
Angeles on the next."""

import datetime as dt
import importlib
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from privacy import purge, reminders, services
from privacy.models import LegalHold, PurgeRun, SubjectRequest
from privacy.services import PrivacyError
from tests.privacy.conftest import receive

#: 09:30 on 7 December in Auckland (summer time, UTC+13): 20:30 on 6 December in UTC.
AUCKLAND_MORNING = dt.datetime(2026, 12, 7, 9, 30, tzinfo=ZoneInfo("Pacific/Auckland"))
#: 20:15 on 6 December in Los Angeles (UTC-8): 04:15 on 7 December in UTC.
LOS_ANGELES_EVENING = dt.datetime(2026, 12, 6, 20, 15, tzinfo=ZoneInfo("America/Los_Angeles"))
MOMENTS = [
    ("Pacific/Auckland", AUCKLAND_MORNING, "7 December 2026"),
    ("America/Los_Angeles", LOS_ANGELES_EVENING, "6 December 2026"),
]


@pytest.mark.parametrize(("zone", "moment", "day"), MOMENTS)
def test_it_dates_a_standing_rejection_proposal_on_the_company_day(
    officers, settings, zone, moment, day
):
    settings.TIME_ZONE = zone
    request = receive(officers)
    services.propose_rejection(
        request=request, actor=officers[0], ground="no_data", reason="Not a customer"
    )
    SubjectRequest.objects.filter(pk=request.pk).update(rejection_proposed_at=moment)
    with pytest.raises(PrivacyError, match=f"Priya proposed rejecting this request on {day}:"):
        services.propose_rejection(
            request=request, actor=officers[1], ground="no_data", reason="Other words"
        )


@pytest.mark.parametrize(("zone", "moment", "day"), MOMENTS)
def test_it_dates_a_standing_ask_to_release_a_hold_on_the_company_day(
    org, officers, settings, zone, moment, day
):
    settings.TIME_ZONE = zone
    hold = services.place_hold(actor=officers[0], reason="Case 31", user=org.alice)
    services.ask_release(hold=hold, actor=officers[0], reason="Settled")
    LegalHold.objects.filter(pk=hold.pk).update(release_asked_at=moment)
    with pytest.raises(PrivacyError, match=f"Priya asked to release this hold on {day}:"):
        services.ask_release(hold=hold, actor=officers[1], reason="Me too")


@pytest.mark.parametrize(
    ("zone", "moment", "name"),
    [
        ("Pacific/Auckland", AUCKLAND_MORNING, "Purge 2026-12-07 09:30"),
        ("America/Los_Angeles", LOS_ANGELES_EVENING, "Purge 2026-12-06 20:15"),
    ],
)
def test_a_purge_run_is_named_by_its_local_start(settings, zone, moment, name):
    """Its name is the audit event's target: read beside events shown in local time."""
    settings.TIME_ZONE = zone
    assert str(PurgeRun(started_at=moment.astimezone(dt.UTC))) == name


def _at(monkeypatch, moment: dt.datetime) -> None:
    """Steward's clock reads ``moment``."""
    monkeypatch.setattr(timezone, "now", lambda: moment.astimezone(dt.UTC))


@pytest.mark.parametrize(
    ("zone", "moment", "regime", "received", "due"),
    [
        ("Pacific/Auckland", AUCKLAND_MORNING, "gdpr", dt.date(2026, 12, 7), dt.date(2027, 1, 7)),
        (
            "America/Los_Angeles",
            LOS_ANGELES_EVENING,
            "ccpa",
            dt.date(2026, 12, 6),
            dt.date(2027, 1, 20),
        ),
    ],
)
def test_a_request_asked_for_counts_from_the_company_day(
    member, settings, monkeypatch, zone, moment, regime, received, due
):
    settings.TIME_ZONE = zone
    _at(monkeypatch, moment)
    request = services.request_own_data(user=member, kind=SubjectRequest.Kind.ACCESS, regime=regime)
    assert (request.received_on, request.due_on) == (received, due)


@pytest.mark.parametrize(
    ("local", "days_left", "overdue"),
    [
        (dt.datetime(2026, 12, 6, 23, 59), 0, False),  # 07:59 on 7 December in UTC
        (dt.datetime(2026, 12, 7, 0, 1), -1, True),
    ],
)
def test_a_request_is_overdue_from_the_company_midnight(
    officers, settings, monkeypatch, local, days_left, overdue
):
    settings.TIME_ZONE = "America/Los_Angeles"
    request = receive(officers, received_on=dt.date(2026, 11, 6))  # due 6 December
    _at(monkeypatch, local.replace(tzinfo=ZoneInfo("America/Los_Angeles")))
    request = SubjectRequest.objects.get(pk=request.pk)
    assert request.due_on == dt.date(2026, 12, 6)
    assert (request.days_left(), request.overdue) == (days_left, overdue)


def test_the_reminder_counts_days_on_the_company_calendar(
    officers, settings, monkeypatch, mailoutbox
):
    """Due on 13 December, the request is reminded on the 6th, a week before, all day long
    in Los Angeles: in UTC, that evening is the 7th already (six days: no reminder)."""
    settings.TIME_ZONE = "America/Los_Angeles"
    request = receive(officers, received_on=dt.date(2026, 11, 13))
    _at(monkeypatch, LOS_ANGELES_EVENING)
    assert reminders.send() == 1
    assert "due in 7 days, on 13 December 2026" in mailoutbox[0].body
    assert SubjectRequest.objects.get(pk=request.pk).reminded_on == dt.date(2026, 12, 6)


def test_an_interrupted_purge_says_when_its_worker_stopped_in_local_time(db, settings):
    """Beside the run's start, which its page shows in local time."""
    settings.TIME_ZONE = "America/Los_Angeles"
    stopped = dt.datetime(2026, 12, 1, 20, 15, tzinfo=ZoneInfo("America/Los_Angeles"))
    run = PurgeRun.objects.create(started_at=stopped, heartbeat_at=stopped.astimezone(dt.UTC))
    purge._interrupt_stale()
    run.refresh_from_db()
    assert run.status == PurgeRun.Status.INTERRUPTED
    assert run.errors[0].startswith("Interrupted: its worker stopped at 2026-12-01 20:15:00 PST ")


def test_the_purge_schedule_is_typed_and_kept_on_the_companys_clock(client, officers, settings):
    """02:30 typed in Los Angeles is 02:30 there: the crontab keeps the zone it was typed in
    (beat reads each in its own). A schedule made in UTC (the first one, made while TIME_ZONE
    was UTC, or by an earlier version) is offered as Los Angeles' clock shows it, so saving it
    unchanged does not move it."""
    from django.apps import apps

    importlib.import_module("privacy.migrations.0002_purge_schedule").create_schedule(apps, None)
    settings.TIME_ZONE = "America/Los_Angeles"
    client.force_login(officers[0])
    with patch(
        "django.utils.timezone.now", return_value=dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    ):
        page = client.get(reverse("privacy:purges")).content.decode()
    assert ">Hour (America/Los_Angeles)<" in page and ">Minute (America/Los_Angeles)<" in page
    assert 'name="hour" value="18"' in page and 'name="minute" value="30"' in page  # PST
    assert "daily at 02:30 UTC" in page

    client.force_login(officers[0])  # the session's lifetime was read on the clock above
    client.post(reverse("privacy:purge_schedule"), {"hour": 2, "minute": 30, "enabled": "on"})
    schedule = services.purge_schedule()
    assert (schedule.crontab.hour, schedule.crontab.minute) == ("2", "30")
    assert str(schedule.crontab.timezone) == "America/Los_Angeles"
    assert services.schedule_label(schedule) == "daily at 02:30 America/Los_Angeles"
