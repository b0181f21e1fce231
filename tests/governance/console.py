"""Shared helpers for the policy console's tests (test_console_*.py)."""

from audit.models import AuditEvent

HTMX = {"HTTP_HX_REQUEST": "true"}


def policy_events(action=AuditEvent.Action.POLICY_CHANGED) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def only_event(action=AuditEvent.Action.POLICY_CHANGED) -> AuditEvent:
    """The one policy event (of ``action``) written; fails when there are none or several."""
    events = policy_events(action)
    assert len(events) == 1, [e.message for e in events]
    return events[0]


def backend_form(**overrides) -> dict:
    values = {
        "name": "Azure EU",
        "kind": "openai",
        "base_url": "https://eu.example.com/v1",
        "model": "gpt-4o",
        "credential": "",
        "credential_env": "",
        "hosting_class": "private_cloud",
        "provider_retention_days": "0",
        "region": "eu",
        "dpa_signed": "on",
        "dpa_expires_on": "2030-01-31",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}
