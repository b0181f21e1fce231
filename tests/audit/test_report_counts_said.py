"""What each number of the compliance report counts, said where the number is: findings are
counted each time they were found, not per request."""

import csv
import html
import io
import re

from audit.models import AuditEvent
from audit.services import record
from tests.asked_here import asked
from tests.factories import make_chat_event


def test_it_says_findings_are_counted_each_time_found(client, reader):
    make_chat_event(decision="pseudonymised", findings={"EMAIL_ADDRESS": 3})
    client.force_login(reader)

    page = client.get("/audit/report/").content.decode()
    body = client.get(asked(client, "/audit/report/?format=csv")).content.decode("utf-8-sig")
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(body))}

    # One request, three addresses: "3" beside "Email address" is not three requests.
    assert "How many times each was found: one request can hold several." in page
    assert rows["EMAIL_ADDRESS"]["label"] == (
        "Times found in pseudonymised requests: Email address"
    )
    assert rows["EMAIL_ADDRESS"]["value"] == "3" and rows["requests"]["value"] == "1"


def test_it_says_nothing_of_counting_when_nothing_was_found(client, reader):
    make_chat_event()
    client.force_login(reader)
    page = client.get("/audit/report/").content.decode()
    assert "Nothing was found in this period." in page
    assert "How many times each was found" not in page


def test_it_says_the_routing_table_leaves_out_blocked_requests(client, reader):
    """Two chat requests in the heading, one in the table: the page says why."""
    make_chat_event(category="Public", backend="Local Ollama")
    make_chat_event(category="Public", decision="blocked")
    client.force_login(reader)
    page = client.get("/audit/report/").content.decode()
    assert "2 chat requests" in page
    assert "Blocked requests reached none, so they are not counted here." in page


def test_the_insights_charts_say_what_they_count(client, reader):
    """Blocked requests are in the 2 requests but on no backend's bar; one request's three
    addresses are a bar of 3: each chart says what its bars count."""
    make_chat_event(decision="pseudonymised", findings={"EMAIL_ADDRESS": 3})
    make_chat_event(decision="blocked")
    client.force_login(reader)
    page = client.get("/audit/dashboard/").content.decode()
    assert 'Findings by type <span class="muted">(times found)</span>' in page
    assert 'Top backends <span class="muted">(requests delivered)</span>' in page


def test_the_blocked_events_link_lists_what_the_report_counts(client, reader, member):
    """The report's blocked requests are chat requests: the link to them left out a refused
    API token (outcome blocked too), which the list then showed beside them."""
    make_chat_event(decision="blocked", findings={"SECRET": 1})
    refused = record(
        action=AuditEvent.Action.API_TOKEN_REFUSED,
        actor=member,
        outcome=AuditEvent.Outcome.BLOCKED,
        message="The token has expired.",
    )
    client.force_login(reader)
    page = client.get("/audit/report/").content.decode()
    link = html.unescape(re.search(r'href="([^"]+)">the blocked events<', page)[1])

    listed = client.get(link).content.decode()

    assert listed.count('<span class="badge badge-danger">Blocked</span>') == 1
    assert f"/audit/events/{refused.sequence}/" not in listed
