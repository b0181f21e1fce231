""" "Verify now" returns to the trail as the auditor was reading it: it dropped the filters."""

from urllib.parse import parse_qs, urlsplit

from audit.models import AuditEvent
from audit.services import record


def _back(client, referer: str | None) -> dict:
    headers = {"HTTP_REFERER": referer} if referer is not None else {}
    response = client.post("/audit/verify/", **headers)  # queued: the worker is busy
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/audit/"
    return parse_qs(location.query)


def test_it_keeps_the_filters_of_the_page_it_was_pressed_on(client, reader):
    record(action=AuditEvent.Action.LOGIN, actor_label="someone")
    client.force_login(reader)
    query = _back(client, "http://testserver/audit/?outcome=blocked&since=2026-12-01&before=40")
    # The filters, not the page of older events: the verification is about the newest.
    assert query == {"outcome": ["blocked"], "since": ["2026-12-01"], "verifying": ["0"]}


def test_it_keeps_nothing_else(client, reader):
    client.force_login(reader)
    assert _back(client, None) == {"verifying": ["0"]}
    assert _back(client, "http://testserver/audit/dashboard/?from=2026-12-01") == {
        "verifying": ["0"]
    }
    assert _back(client, "https://elsewhere.example/audit/?outcome=blocked") == {"verifying": ["0"]}
    # Filters that can't be applied are not carried over.
    assert _back(client, "http://testserver/audit/?since=2026-12-05&until=2026-12-01") == {
        "verifying": ["0"]
    }
