"""A report of days before the trail begins (before Steward was installed, or pruned by the
retention rule) said "Confidential data stayed on our infrastructure · no exceptions": a
clean bill for days nothing was recorded. It says where the trail begins instead."""

import csv
import datetime as dt
import io

from django.utils import timezone

from audit.models import AuditEvent
from tests.asked_here import asked
from tests.factories import make_chat_event


def _report(client, first: dt.date, last: dt.date, fmt: str = "") -> str:
    query = f"?from={first}&to={last}" + (f"&format={fmt}" if fmt else "")
    return client.get(asked(client, f"/audit/report/{query}")).content.decode("utf-8-sig")


def test_it_says_the_days_before_the_trail_were_not_recorded(client, reader):
    make_chat_event()  # the trail begins today
    first = AuditEvent.objects.order_by("sequence").first()
    client.force_login(reader)
    today = timezone.localdate()

    page = _report(client, today - dt.timedelta(days=10), today - dt.timedelta(days=5))

    assert "Not all of this period was recorded." in page
    assert f'href="/audit/events/{first.sequence}/">event #{first.sequence}</a>' in page
    assert "stayed on our infrastructure" not in page
    assert "No confidential data reached an external backend in the days recorded" in page


def test_a_period_the_trail_covers_says_nothing_of_it(client, reader):
    make_chat_event()
    client.force_login(reader)
    today = timezone.localdate()

    page = _report(client, today, today)

    assert "Not all of this period was recorded." not in page
    assert "Confidential data stayed on our infrastructure" in page


def test_the_download_says_it_too(client, reader):
    make_chat_event()
    first = AuditEvent.objects.order_by("sequence").first()
    client.force_login(reader)
    today = timezone.localdate()

    body = _report(client, today - dt.timedelta(days=3), today, fmt="csv")
    rows = {(r["section"], r["key"]): r for r in csv.DictReader(io.StringIO(body))}
    assert rows["period", "trail_starts"]["value"] == today.isoformat()
    assert f"(event #{first.sequence})" in rows["period", "trail_starts"]["label"]

    body = _report(client, today, today, fmt="csv")
    assert "trail_starts" not in body


def test_insights_says_it_too(client, reader):
    """The Insights page's figures and charts, for days before the trail, read as quiet days."""
    make_chat_event()
    client.force_login(reader)
    today = timezone.localdate()

    page = client.get(f"/audit/dashboard/?from={today - dt.timedelta(days=3)}&to={today}").text
    assert "Not all of this period was recorded." in page
    page = client.get(f"/audit/dashboard/?from={today}&to={today}").text
    assert "Not all of this period was recorded." not in page
