"""The trail's downloads are named by the company's time (TIME_ZONE), as every other
download is: an auditor in Auckland who exports on a Monday morning gets Monday's file."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.asked_here import asked

#: 09:30 on 7 December in Auckland (summer time, UTC+13): 20:30 on 6 December in UTC.
AUCKLAND_MORNING = dt.datetime(2026, 12, 7, 9, 30, 5, tzinfo=ZoneInfo("Pacific/Auckland"))
#: 20:15 on 6 December in Los Angeles (UTC-8): 04:15 on 7 December in UTC.
LOS_ANGELES_EVENING = dt.datetime(2026, 12, 6, 20, 15, 5, tzinfo=ZoneInfo("America/Los_Angeles"))


@pytest.mark.parametrize(
    ("zone", "moment", "stamp"),
    [
        ("Pacific/Auckland", AUCKLAND_MORNING, "20261207-093005"),
        ("America/Los_Angeles", LOS_ANGELES_EVENING, "20261206-201505"),
    ],
)
@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/audit/export/csv/", "steward-audit-{}.csv"),
        ("/audit/checkpoints.jsonl", "steward-checkpoints-{}.jsonl"),
    ],
)
def test_a_download_is_named_by_the_local_time(
    client, reader, settings, monkeypatch, zone, moment, stamp, url, name
):
    settings.TIME_ZONE = zone
    monkeypatch.setattr(timezone, "now", lambda: moment.astimezone(dt.UTC))
    client.force_login(reader)
    response = client.get(asked(client, url))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{name.format(stamp)}"'
