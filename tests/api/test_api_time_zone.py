"""A token's expiry is told on the company's day (TIME_ZONE), as its page and its mail tell it."""

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

LOS_ANGELES = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize(
    ("made", "expires_on"),
    [
        # 20:15 on 5 December (UTC-8): a day later is 6 December there, 7 December in UTC.
        (dt.datetime(2026, 12, 5, 20, 15, tzinfo=LOS_ANGELES), "2026-12-06"),
        # 23:30 the night the clocks go back: 24 hours later is 22:30 on 1 November.
        (dt.datetime(2026, 10, 31, 23, 30, tzinfo=LOS_ANGELES), "2026-11-01"),
    ],
)
def test_create_api_token_prints_the_local_expiry_date(
    member, settings, monkeypatch, made, expires_on
):
    settings.TIME_ZONE = "America/Los_Angeles"
    monkeypatch.setattr(timezone, "now", lambda: made.astimezone(dt.UTC))
    said = io.StringIO()
    call_command(
        "create_api_token", member.email, "--expires", "1", stdout=io.StringIO(), stderr=said
    )
    assert f"(expires: {expires_on})." in said.getvalue()
