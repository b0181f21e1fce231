"""Training's dates are the company's (TIME_ZONE): the report's download writes when each
person acknowledged in local time, as every download does."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from tests.asked_here import asked
from training import services
from training.models import Acknowledgement

#: 09:30 on 7 December in Auckland (summer time, UTC+13): 20:30 on 6 December in UTC.
AUCKLAND_MORNING = dt.datetime(2026, 12, 7, 9, 30, 5, tzinfo=ZoneInfo("Pacific/Auckland"))
#: 20:15 on 6 December in Los Angeles (UTC-8): 04:15 on 7 December in UTC.
LOS_ANGELES_EVENING = dt.datetime(2026, 12, 6, 20, 15, 5, tzinfo=ZoneInfo("America/Los_Angeles"))


@pytest.mark.parametrize(
    ("zone", "moment", "written"),
    [
        ("Pacific/Auckland", AUCKLAND_MORNING, "2026-12-07T09:30:05+13:00"),
        ("America/Los_Angeles", LOS_ANGELES_EVENING, "2026-12-06T20:15:05-08:00"),
    ],
)
def test_the_report_csv_writes_acknowledgements_in_local_time(
    client, demo, publish, settings, zone, moment, written
):
    settings.TIME_ZONE = zone
    document = publish()
    services.acknowledge(user=demo.alice, document=document)
    Acknowledgement.objects.filter(user=demo.alice).update(acknowledged_at=moment)
    client.force_login(demo.aaron)
    rows = csv.DictReader(
        io.StringIO(client.get(asked(client, reverse("training:report_csv"))).text)
    )
    alice = next(row for row in rows if row["email"] == "alice@example.com")
    assert alice["acknowledged at"] == written
