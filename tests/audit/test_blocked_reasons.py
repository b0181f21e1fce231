"""Why a chat request was blocked, on the trail's list and on the event's page: the reason
the policy gave (recorded as ``reasons``), not the findings alone, which can name
something the request was not blocked for."""

from audit.models import AuditEvent
from audit.services import record
from audit.words import why_blocked, without_blocked

Action = AuditEvent.Action


def _blocked(actor, *, reasons, findings):
    """A blocked ``chat.request`` as chat.services.steps._record_request records it."""
    return record(
        action=Action.CHAT_REQUEST,
        actor=actor,
        outcome=AuditEvent.Outcome.BLOCKED,
        category="Prohibited",
        details={
            "category_number": 4,
            "decision": "blocked",
            "hosting_class": "",
            "region": "",
            "findings": findings,
            "replaced": {},
            "chars": 80,
            "message": "5f0c0d55-0000-4000-8000-000000000000",
            "reasons": reasons,
        },
    )


def test_it_says_the_policys_reason_in_the_list(client, reader, member):
    _blocked(
        member,
        reasons=["Blocked: Prohibited material is never sent to any model."],
        findings={"EMAIL_ADDRESS": 1},
    )
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert "Blocked: Prohibited material is never sent to any model." in page
    # Not "blocked for an email address": the address was found, the category blocked it.
    assert "Blocked: Email address" not in page


def test_it_says_the_reason_on_the_events_page(client, reader, member):
    event = _blocked(member, reasons=["You are not cleared for Confidential."], findings={})
    client.force_login(reader)
    page = client.get(f"/audit/events/{event.sequence}/").content.decode()
    assert "the sender was told: “You are not cleared for Confidential.”" in page


def test_it_falls_back_to_the_findings_when_no_reason_was_recorded(client, reader, member):
    event = _blocked(member, reasons=[], findings={"CREDIT_CARD": 1})
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert "Blocked: Payment card number" in page
    detail = client.get(f"/audit/events/{event.sequence}/").content.decode()
    assert "the sender was told" not in detail


def test_it_reads_older_and_odd_shapes():
    assert why_blocked({"reason": "category 4 is never sent"}) == "Category 4 is never sent"
    assert why_blocked({"reasons": ["Blocked: a.", "Blocked: b."]}) == "A. B."
    assert why_blocked({"reasons": "[removed after 400 days]"}) == "[removed after 400 days]"
    assert why_blocked({"reasons": 3}) == ""
    assert why_blocked(["not", "a", "dict"]) == ""
    assert why_blocked({}) == ""


def test_it_takes_the_label_off_a_reason_once_for_every_caller():
    # The audit trail and the chat export both say "blocked" themselves.
    assert without_blocked("Blocked: a card may not be sent.") == "a card may not be sent."
    assert without_blocked("  Blocked:a card.  ") == "a card."
    assert without_blocked("Category 4 is never sent.") == "Category 4 is never sent."
    assert without_blocked("Not Blocked: here") == "Not Blocked: here"
