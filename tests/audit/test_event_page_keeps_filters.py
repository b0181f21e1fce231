"""An event opened from a filtered trail leads back to that trail: "← Audit trail" went to
the unfiltered list, and the auditor filtered again after each event they read."""

import re

from audit.models import AuditEvent
from audit.services import record


def _hrefs(html: str, path: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(rf'href="({path}[^"]*)"', html)]


def test_the_list_the_event_and_its_neighbours_carry_the_filters(client, reader):
    for _ in range(3):
        record(action=AuditEvent.Action.LOGIN, actor_label="someone", outcome="failure")
    client.force_login(reader)
    listed = client.get("/audit/", {"outcome": "failure", "action": "auth.login"}).text
    listed = listed[listed.index('event-table">') :]  # the rows, not the chain panel
    opened = [h for h in _hrefs(listed, "/audit/events/") if re.match(r"/audit/events/\d+/", h)]
    assert opened and all(h.endswith("?action=auth.login&outcome=failure") for h in opened)
    page = client.get(opened[1]).text
    assert "/audit/?action=auth.login&outcome=failure" in _hrefs(page, "/audit/")
    neighbours = [h for h in _hrefs(page, "/audit/events/") if re.match(r"/audit/events/\d+/", h)]
    assert len(neighbours) == 2
    assert all(h.endswith("?action=auth.login&outcome=failure") for h in neighbours)


def test_an_event_opened_without_filters_or_with_wrong_ones_leads_to_the_whole_trail(
    client, reader
):
    event = record(action=AuditEvent.Action.LOGIN, actor_label="someone")
    client.force_login(reader)
    for query in ("", "?since=2026-12-05&until=2026-12-01"):
        page = client.get(f"/audit/events/{event.sequence}/{query}").text
        assert '<a href="/audit/">← Audit trail</a>' in page
