import datetime as dt
import re

from django.utils import timezone

from tests.factories import make_chat_event


def test_it_says_when_and_by_whom_the_report_was_generated(client, reader, settings):
    """Printed, the report showed its period but not when it was drawn, nor by whom."""
    settings.TIME_ZONE = "UTC"
    client.force_login(reader)

    response = client.get("/audit/report/?from=2026-11-01&to=2026-11-07")
    page = response.content.decode()

    assert "1 November 2026 – 7 November 2026" in page
    generated = response.context["generated_at"]
    assert timezone.now() - generated < dt.timedelta(minutes=1)
    assert f"Generated {generated:%-d %B %Y, %H:%M} UTC by Rita Reader" in page


def test_the_link_to_the_blocked_events_is_not_printed(client, reader):
    """On paper "the blocked events" was a link that leads nowhere."""
    make_chat_event(decision="blocked", findings={"SECRET": 1})
    client.force_login(reader)

    page = client.get("/audit/report/").content.decode()

    link = re.search(r'<a [^>]*href="/audit/\?[^"]*outcome=blocked[^>]*>', page)[0]
    assert "no-print" in link
