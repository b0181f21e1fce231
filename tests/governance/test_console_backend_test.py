"""The backend page's "Test connection" button, against fake backends on loopback."""

import json

import pytest

from audit.models import AuditEvent
from governance.models import Backend
from tests.factories import make_backend
from tests.fakes.llm_servers import FakeLLM
from tests.governance.console import HTMX, only_event, policy_events

KEY = "sk-live-0123456789abcdefSECRET"


@pytest.fixture
def fake():
    server = FakeLLM("openai")
    yield server
    server.stop()


@pytest.fixture
def backend(db, fake):
    backend = make_backend(name="Azure EU", kind="openai", base_url=fake.url, model="gpt-4o-mini")
    backend.seal_credential(KEY)
    backend.save(update_fields=["credential_encrypted"])
    return backend


def _url(backend: Backend) -> str:
    return f"/policy/backends/{backend.public_id}/test/"


def test_it_stores_the_health_and_says_so(client, admin, fake, backend):
    client.force_login(admin)
    response = client.post(_url(backend), follow=True)
    backend.refresh_from_db()
    assert backend.health_checked_at is not None
    assert backend.health_error == ""
    assert backend.health_latency_ms is not None
    assert fake.last.path == "/v1/models"
    assert fake.last.headers["authorization"] == f"Bearer {KEY}"
    assert b"answered in" in response.content
    assert response.redirect_chain == [(f"/policy/backends/{backend.public_id}/", 302)]


def test_a_failure_shows_the_message(client, admin, fake, backend):
    fake.fail = 500
    client.force_login(admin)
    response = client.post(_url(backend), follow=True)
    backend.refresh_from_db()
    assert "HTTP 500" in backend.health_error
    assert b"answered HTTP 500: the model crashed" in response.content


def test_a_refused_key_is_reported_without_the_key(client, admin, fake, backend):
    fake.fail = 401
    client.force_login(admin)
    response = client.post(_url(backend), **HTMX)
    backend.refresh_from_db()
    assert "refused the API key" in backend.health_error
    assert KEY.encode() not in response.content


def test_htmx_gets_the_health_panel_only(client, admin, fake, backend):
    client.force_login(admin)
    response = client.post(_url(backend), **HTMX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="backend-health"' in response.content
    assert b"answered" in response.content and b"Test connection" in response.content


def test_htmx_also_gets_the_history_with_the_test_in_it(client, admin, fake, backend):
    """The health panel changed in place, and the History beside it went on saying the
    backend had never been tested until the page was loaded again."""
    client.force_login(admin)
    page = client.post(_url(backend), **HTMX).content.decode()
    history = page[page.index('<section id="history"') :]
    assert 'hx-swap-oob="true"' in history.split(">", 1)[0]
    assert "Connection tested" in history


def test_it_records_one_event_without_the_key_or_the_answer(client, admin, fake, backend):
    fake.fail = 401
    client.force_login(admin)
    client.post(_url(backend))
    event = only_event(AuditEvent.Action.BACKEND_TESTED)
    assert event.message == "Connection tested"
    assert not policy_events()  # a test is not a change of the policy
    assert event.target_type == "governance.backend"
    assert event.details["health"] == "error"
    assert event.outcome == AuditEvent.Outcome.FAILURE
    said = json.dumps([event.before, event.after, event.details, event.message])
    assert KEY not in said and "invalid api key" not in said


def test_an_ok_check_is_recorded_with_its_latency(client, admin, fake, backend):
    client.force_login(admin)
    client.post(_url(backend))
    event = only_event(AuditEvent.Action.BACKEND_TESTED)
    assert event.details["health"] == "ok"
    assert event.details["latency_ms"] == Backend.objects.get().health_latency_ms


def test_a_missing_key_is_reported_without_a_call(client, admin, fake, db):
    backend = make_backend(kind="anthropic", base_url=fake.url, model="claude-x")
    client.force_login(admin)
    client.post(_url(backend))
    backend.refresh_from_db()
    assert "has no API key" in backend.health_error
    assert backend.health_latency_ms is None
    assert fake.requests == []


def test_the_page_has_the_button(client, admin, backend):
    client.force_login(admin)
    response = client.get(f"/policy/backends/{backend.public_id}/")
    assert f'action="/policy/backends/{backend.public_id}/test/"'.encode() in response.content


def test_it_refuses_those_who_are_not_policy_admins(client, member, fake, backend):
    client.force_login(member)
    response = client.post(_url(backend))
    assert response.status_code == 403
    assert fake.requests == []
    assert Backend.objects.get().health_checked_at is None


def test_anonymous_is_sent_to_sign_in(client, fake, backend):
    response = client.post(_url(backend))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert fake.requests == []


def test_get_is_not_allowed(client, admin, backend):
    client.force_login(admin)
    assert client.get(_url(backend)).status_code == 405


def test_an_unknown_backend_is_404(client, admin):
    client.force_login(admin)
    response = client.post("/policy/backends/00000000-0000-4000-8000-000000000999/test/")
    assert response.status_code == 404


def test_an_address_without_v1_is_named_as_what_to_change(client, admin, fake, db):
    root = fake.url.removesuffix("/v1")
    backend = make_backend(name="Gateway", kind="openai", base_url=root, model="gpt-4o-mini")
    client.force_login(admin)
    page = client.post(_url(backend), follow=True).content.decode()
    assert "Gateway answered HTTP 404 to a model listing at" in page
    assert "the address should likely end in /v1." in page
    assert "Error code: 404" not in page
