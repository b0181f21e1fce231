"""What an export's own audit event keeps (never a filtered person's email: the trail is kept
for years), and the time zone its days and the report's period are counted in."""

import csv
import datetime as dt
import io
import json

from audit.models import AuditEvent
from audit.reports import Period, report_rows, summarise
from tests.asked_here import asked
from tests.factories import make_chat_event

Action = AuditEvent.Action


def test_an_actor_filter_is_recorded_by_public_id_not_email(client, reader, member):
    make_chat_event(actor=member)
    client.force_login(reader)
    response = client.get(
        asked(client, "/audit/export/csv/?actor=Member@Example.com&outcome=success")
    )
    assert response.status_code == 200
    exported = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    assert exported.details["filters"] == {
        "actor_public_id": str(member.public_id),
        "outcome": "success",
    }
    stored = json.dumps(AuditEvent.objects.filter(pk=exported.pk).values().get(), default=str)
    assert "example.com" not in stored.lower().replace(reader.email.lower(), "")


def test_the_system_actor_filter_is_recorded_as_it_is(client, reader):
    client.force_login(reader)
    client.get(asked(client, "/audit/export/jsonl/?actor=system"))
    exported = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    assert exported.details["filters"] == {"actor": "system"}


def test_an_export_records_the_time_zone_of_its_days(client, reader, settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    client.force_login(reader)
    client.get(asked(client, "/audit/export/jsonl/?since=2026-01-01"))
    exported = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    assert exported.details["time_zone"] == "Pacific/Auckland"
    assert exported.details["filters"] == {"since": "2026-01-01"}


def test_the_events_page_names_the_time_zone_of_its_days(client, reader, settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert "Days run midnight to midnight, Pacific/Auckland time." in page


def test_the_reports_period_rows_name_their_time_zone(db, settings):
    settings.TIME_ZONE = "America/New_York"
    day = dt.date(2026, 3, 8)  # the day New York moves its clocks: 23 hours long
    rows = report_rows(summarise(Period(day, day)))
    period = [(row["key"], row["value"]) for row in rows if row["section"] == "period"]
    assert period == [
        ("from", "2026-03-08"),
        ("to", "2026-03-08"),
        ("time_zone", "America/New_York"),
    ]


def test_the_report_page_and_downloads_name_the_time_zone(client, reader, settings):
    settings.TIME_ZONE = "Europe/Paris"
    client.force_login(reader)
    page = client.get("/audit/report/?from=2026-01-01&to=2026-01-07").content.decode()
    assert "days in Europe/Paris time" in page
    body = client.get(
        asked(client, "/audit/report/?from=2026-01-01&to=2026-01-07&format=csv")
    ).content
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert ("time_zone", "Europe/Paris") in [(row["key"], row["value"]) for row in rows]
    exported = AuditEvent.objects.get(action=Action.REPORT_EXPORTED)
    assert exported.details["time_zone"] == "Europe/Paris"
