"""The dashboard's word for each backend: it said "not tested" for ever unless someone
pressed Test connection, however well the backend was answering every day."""

import datetime as dt

from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from governance.roles import Role
from governance.views.dashboard import backend_badge
from tests.factories import make_backend, make_user

NOW = timezone.now()


def _answer(backend, *, ok: bool, kind: str = "unreachable", stage: str = "backend"):
    record(
        action=AuditEvent.Action.CHAT_RESPONSE if ok else AuditEvent.Action.CHAT_FAILURE,
        outcome=AuditEvent.Outcome.SUCCESS if ok else AuditEvent.Outcome.FAILURE,
        backend=backend.name,
        details={} if ok else {"stage": stage, "kind": kind},
    )


def test_the_newer_of_a_real_answer_and_a_test_decides(db):
    backend = make_backend(health_checked_at=NOW, health_error="Connection refused")
    assert backend_badge(backend, None)["label"] == "unhealthy"
    assert backend_badge(backend, (True, NOW + dt.timedelta(minutes=1)))["label"] == "answering"
    assert backend_badge(backend, (False, NOW + dt.timedelta(minutes=1)))["label"] == "failing"
    assert backend_badge(backend, (True, NOW - dt.timedelta(minutes=1)))["label"] == "unhealthy"
    untested = make_backend(name="Fresh")
    assert backend_badge(untested, None)["label"] == "not tested"
    untested.enabled = False
    assert backend_badge(untested, (True, NOW))["label"] == "disabled"


def test_the_dashboard_reads_the_backends_last_real_answers(client, db):
    admin = make_user("admin@example.com", Role.POLICY_ADMIN)
    answering = make_backend(name="Answering")
    failing = make_backend(name="Failing")
    ours = make_backend(name="Steward's fault")
    _answer(answering, ok=False)
    _answer(answering, ok=True)
    _answer(failing, ok=True)
    _answer(failing, ok=False)
    _answer(ours, ok=False, kind="internal")  # Steward's own failure: not the backend's
    client.force_login(admin)
    page = client.get("/").content.decode()
    assert "<strong>Answering</strong>" in page
    states = {
        name: page.split(f"<strong>{name}</strong>")[1].split("</li>")[0]
        for name in ("Answering", "Failing", "Steward&#x27;s fault")
    }
    assert ">answering</span>" in states["Answering"]
    assert ">failing</span>" in states["Failing"]
    assert ">not tested</span>" in states["Steward&#x27;s fault"]
