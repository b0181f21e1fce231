"""The chain panel's count of verified events reads like the other counts on the pages."""

from audit.models import AuditEvent
from audit.services import record


def test_it_groups_the_thousands_of_the_events_verified(client, reader):
    record(action=AuditEvent.Action.AUDIT_VERIFIED, details={"checked": 1234567})
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert "1,234,567 events" in page


def test_it_says_one_event(client, reader):
    record(action=AuditEvent.Action.AUDIT_VERIFIED, details={"checked": 1})
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert " · 1 event<" in page
