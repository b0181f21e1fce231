"""The auditor picks a backend from the names the trail holds ("OpenAI" found nothing: the
filter wanted "OpenAI business API" typed in full), and filters model calls by where the
backend was hosted. The page, the exports and the REST API share the filter."""

import json

import pytest
from django.db import connection  # noqa: F401  (the skipif reads it)

from audit import filters
from audit.models import AuditEvent
from audit.services import record
from tests.asked_here import asked
from tests.factories import make_chat_event

Action = AuditEvent.Action
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def calls(member):
    """Calls to an external, a private-cloud and an on-premise backend (one of them since
    retired: no backend has its name now), a blocked request and a response."""
    made = {
        "external": make_chat_event(
            category="Internal", number=2, backend="OpenAI business API", hosting="external_api"
        ),
        "cloud": make_chat_event(
            category="Internal", number=2, backend="EU cloud Mistral", hosting="private_cloud"
        ),
        "retired": make_chat_event(backend="Old local llama", hosting="on_prem"),
        "blocked": make_chat_event(decision="blocked"),
    }
    made["response"] = record(
        action=Action.CHAT_RESPONSE,
        actor=member,
        category="Internal",
        backend="OpenAI business API",
        details={"category_number": 2, "hosting_class": "external_api"},
    )
    return made


def _sequences(rows) -> set[int]:
    return {row["sequence"] for row in rows}


def _exported(client, query: str) -> list[dict]:
    response = client.get(asked(client, f"/audit/export/jsonl/?{query}"))
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).splitlines()
    return [row for row in map(json.loads, lines) if row["action"] != Action.AUDIT_EXPORTED]


def test_the_backend_filter_lists_the_names_the_trail_holds(client, reader, calls):
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert '<select name="backend"' in page
    for name in ("Any backend", "EU cloud Mistral", "OpenAI business API", "Old local llama"):
        assert f">{name}</option>" in page
    assert page.index(">EU cloud Mistral<") < page.index(">Old local llama<")
    assert page.index(">Old local llama<") < page.index(">OpenAI business API<")


def test_a_name_is_listed_once_whatever_its_case(reader):
    make_chat_event(backend="openai business api")
    make_chat_event(backend="OpenAI business API")
    make_chat_event(backend="Local Ollama")
    names = filters.backend_names()
    assert [name.upper() for name in names] == ["LOCAL OLLAMA", "OPENAI BUSINESS API"]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_on_postgresql_a_name_is_spelled_as_its_newest_event_spells_it(reader):
    make_chat_event(backend="openai business api")
    make_chat_event(backend="OpenAI business API")
    make_chat_event(backend="Zeta")
    assert filters.backend_names() == ["OpenAI business API", "Zeta"]


def test_the_chosen_backend_selects_its_events_and_stays_chosen(client, reader, calls):
    client.force_login(reader)
    page = client.get("/audit/?backend=OpenAI+business+API").content.decode()
    assert '<option value="OpenAI business API" selected>' in page
    assert "Internal → OpenAI business API" in page and "EU cloud Mistral</a>" not in page
    assert "Internal → EU cloud Mistral" not in page


def test_a_typed_name_is_taken_whatever_its_case_and_shown_as_listed(client, reader, calls):
    client.force_login(reader)
    response = client.get("/audit/?backend=+openai+BUSINESS+api")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<option value="OpenAI business API" selected>' in page
    assert "Internal → OpenAI business API" in page and "Internal → EU cloud Mistral" not in page


def test_a_name_no_event_holds_is_explained_with_the_names_it_does(client, reader, calls):
    client.force_login(reader)
    response = client.get("/audit/?backend=OpenAI")
    assert response.status_code == 422
    page = response.content.decode()
    assert "No event names this backend. The trail&#x27;s backends: EU cloud Mistral, " in page
    assert client.get(asked(client, "/audit/export/csv/?backend=OpenAI")).status_code == 400
    answer = client.get("/api/audit/events/", {"backend": "OpenAI"})
    assert answer.status_code == 400
    assert "OpenAI business API" in answer.json()["backend"][0]


def test_the_names_are_read_once_and_only_when_needed(client, reader, calls, monkeypatch):
    reads = []
    real = filters.backend_names
    monkeypatch.setattr(filters, "backend_names", lambda: reads.append(1) or real())
    client.force_login(reader)
    client.get("/audit/?backend=openai+business+api")  # cleaned, then shown selected
    assert len(reads) == 1
    client.get("/audit/?outcome=blocked", **HTMX)  # the results alone: no list, no name
    client.get("/api/audit/events/", {"outcome": "blocked"})
    assert len(reads) == 1


def test_the_hosting_filter_selects_the_calls_to_that_hosting(client, reader, calls):
    client.force_login(reader)
    page = client.get("/audit/?hosting=external_api").content.decode()
    assert f"/audit/events/{calls['external'].sequence}/" in page
    for other in ("cloud", "retired", "blocked", "response"):  # a response is no call
        assert f"/audit/events/{calls[other].sequence}/" not in page
    page = client.get("/audit/?hosting=private_cloud&action=chat.request").content.decode()
    assert f"/audit/events/{calls['cloud'].sequence}/" in page
    assert f"/audit/events/{calls['external'].sequence}/" not in page


def test_the_hosting_filter_says_how_to_keep_it_quick(client, reader):
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert '<option value="external_api">External API</option>' in page
    assert 'aria-describedby="id_hosting_helptext"' in page
    assert "On a long trail, give dates too, or the search can be slow." in page


def test_hosting_with_another_action_is_explained(client, reader, calls):
    client.force_login(reader)
    response = client.get("/audit/?hosting=external_api&action=chat.response")
    assert response.status_code == 422
    assert "Only chat requests record the hosting they went to" in response.content.decode()
    answer = client.get("/api/audit/events/", {"hosting": "external_api", "action": "auth.login"})
    assert answer.status_code == 400 and "hosting" in answer.json()
    answer = client.get("/api/audit/events/", {"hosting": "mainframe"})
    assert answer.status_code == 400 and "hosting" in answer.json()


def test_the_exports_and_the_api_filter_alike(client, reader, calls):
    client.force_login(reader)
    external = {calls["external"].sequence}
    assert _sequences(_exported(client, "hosting=external_api")) == external
    assert _sequences(_exported(client, "backend=openai+business+api&action=chat.request")) == (
        external
    )
    recorded = AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED).first().details["filters"]
    assert recorded == {"backend": "openai business api", "action": "chat.request"}
    answer = client.get("/api/audit/events/", {"hosting": "external_api"})
    assert answer.status_code == 200 and _sequences(answer.json()["results"]) == external
    answer = client.get("/api/audit/events/", {"backend": "OPENAI BUSINESS API"})
    assert _sequences(answer.json()["results"]) == external | {calls["response"].sequence}
