"""A DPA ends at the company's midnight (TIME_ZONE): a backend whose DPA expires on
6 December serves all of that day there, and none of the 7th."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from governance.policy import unmet_requirements
from governance.scanning.findings import ScanResult
from governance.simulation import policy_input
from tests.factories import backend_attrs, category_attrs

EXPIRES_ON = dt.date(2026, 12, 6)


@pytest.mark.parametrize(
    ("zone", "local", "refused"),
    [
        # 20:15 on the 6th in Los Angeles is the 7th in UTC: the DPA still holds there.
        ("America/Los_Angeles", dt.datetime(2026, 12, 6, 20, 15), False),
        # 00:30 on the 7th in Auckland is still the 6th in UTC: the DPA has ended there.
        ("Pacific/Auckland", dt.datetime(2026, 12, 7, 0, 30), True),
    ],
)
def test_a_dpa_ends_at_the_company_midnight(member, settings, monkeypatch, zone, local, refused):
    settings.TIME_ZONE = zone
    moment = local.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    today = policy_input(user=member, chosen=1, scan_result=ScanResult(findings=())).today
    backend = backend_attrs(
        hosting_class="external_api", dpa_signed=True, dpa_expires_on=EXPIRES_ON
    )
    problems = unmet_requirements(category_attrs(require_dpa=True), backend, today=today)
    assert bool(problems) is refused
