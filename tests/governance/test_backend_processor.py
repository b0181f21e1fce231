"""Who runs a backend and what covers a transfer outside the EU/EEA (GDPR Art. 30, 46):
saved from the console, the REST API and a policy file, audited, and exported."""

import pytest
import yaml
from rest_framework.test import APIClient

from api.services import create_token
from audit.models import AuditEvent
from governance.models import Backend
from governance.policy_io import PolicyFileError, apply_import, export_policy, plan_import
from tests.factories import make_backend
from tests.governance.console import backend_form, only_event

PROCESSOR = "OpenAI Ireland Ltd"
SAFEGUARD = "Standard contractual clauses (2021/914), module 2"


def _api(user) -> APIClient:
    _, token = create_token(user=user, name="t", expires_in_days=None, actor=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


# --- the console ---------------------------------------------------------------------------


def test_the_console_saves_the_processor_and_the_safeguard_and_audits_them(client, admin):
    client.force_login(admin)
    response = client.post(
        "/policy/backends/new/",
        backend_form(processor=f"  {PROCESSOR} ", transfer_safeguard=SAFEGUARD),
    )
    assert response.status_code == 302
    backend = Backend.objects.get(name="Azure EU")
    assert (backend.processor, backend.transfer_safeguard) == (PROCESSOR, SAFEGUARD)
    event = only_event()
    assert event.after["processor"] == PROCESSOR
    assert event.after["transfer_safeguard"] == SAFEGUARD


def test_an_edit_of_the_safeguard_shows_in_the_backends_history(client, admin):
    client.force_login(admin)
    client.post("/policy/backends/new/", backend_form(processor=PROCESSOR))
    url = f"/policy/backends/{Backend.objects.get().public_id}/"
    page = client.get(url)
    assert PROCESSOR.encode() in page.content  # the form shows what is recorded
    client.post(url, backend_form(processor=PROCESSOR, transfer_safeguard=SAFEGUARD))
    event = AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_CHANGED).latest("sequence")
    assert event.before == {"transfer_safeguard": ""}
    assert event.after == {"transfer_safeguard": SAFEGUARD}
    history = client.get(url).content.decode()
    assert "transfer_safeguard" in history and SAFEGUARD in history


def test_both_fields_are_optional(client, admin):
    client.force_login(admin)
    client.post("/policy/backends/new/", backend_form())
    backend = Backend.objects.get()
    assert (backend.processor, backend.transfer_safeguard) == ("", "")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("processor", "OpenAI\nIreland", "one line of plain text"),
        ("transfer_safeguard", "SCCs\t2021", "one line of plain text"),
        ("processor", "Acme\u202eLtd", "one line of plain text"),  # a right-to-left override
        ("processor", "x" * 201, "at most 200 characters"),
        ("transfer_safeguard", "x" * 301, "at most 300 characters"),
    ],
)
def test_the_console_refuses_what_is_not_one_short_line(client, admin, field, value, message):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", backend_form(**{field: value}))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Backend.objects.exists()


# --- the REST API --------------------------------------------------------------------------


def test_the_rest_api_reads_and_writes_both_fields(admin):
    api = _api(admin)
    values = {"name": "Ollama", "kind": "ollama", "base_url": "http://127.0.0.1:11434"}
    values |= {"model": "llama3.2", "hosting_class": "on_prem"}
    created = api.post(
        "/api/governance/backends/", {**values, "processor": PROCESSOR}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["processor"] == PROCESSOR
    assert created.json()["transfer_safeguard"] == ""
    backend = Backend.objects.get()
    edited = api.patch(
        f"/api/governance/backends/{backend.public_id}/",
        {"transfer_safeguard": SAFEGUARD},
        format="json",
    )
    assert edited.status_code == 200, edited.json()
    backend.refresh_from_db()
    assert (backend.processor, backend.transfer_safeguard) == (PROCESSOR, SAFEGUARD)
    last = AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_CHANGED).latest("sequence")
    assert last.after == {"transfer_safeguard": SAFEGUARD}


def test_the_rest_api_refuses_a_safeguard_on_several_lines(admin):
    backend = make_backend()
    response = _api(admin).patch(
        f"/api/governance/backends/{backend.public_id}/",
        {"transfer_safeguard": "SCCs\nmodule 2"},
        format="json",
    )
    assert response.status_code == 400
    assert "transfer_safeguard" in response.json()
    backend.refresh_from_db()
    assert backend.transfer_safeguard == ""


# --- the policy file ------------------------------------------------------------------------


def test_the_policy_file_exports_and_imports_both_fields(db):
    make_backend(name="OpenAI", processor=PROCESSOR)
    document = yaml.safe_load(export_policy())
    (exported,) = document["backends"]
    assert exported["processor"] == PROCESSOR and exported["transfer_safeguard"] == ""
    exported["transfer_safeguard"] = SAFEGUARD
    plan = apply_import(yaml.safe_dump(document))
    assert plan.lines == [f"~ backend OpenAI: transfer_safeguard: '' → {SAFEGUARD!r}"]
    assert Backend.objects.get().transfer_safeguard == SAFEGUARD
    event = AuditEvent.objects.filter(target_type="governance.backend").latest("sequence")
    assert event.after["transfer_safeguard"] == SAFEGUARD


def test_an_older_policy_file_without_the_fields_still_imports_and_keeps_them(db):
    make_backend(name="OpenAI", processor=PROCESSOR, transfer_safeguard=SAFEGUARD)
    document = yaml.safe_load(export_policy())
    for backend in document["backends"]:
        del backend["processor"], backend["transfer_safeguard"]
    document["backends"].append(
        {"name": "Ollama", "kind": "ollama", "base_url": "http://127.0.0.1:11434",
         "model": "llama3.2", "hosting_class": "on_prem"}
    )  # fmt: skip
    plan = apply_import(yaml.safe_dump(document))
    assert plan.lines == ["+ backend Ollama"]
    kept = Backend.objects.get(name="OpenAI")
    assert (kept.processor, kept.transfer_safeguard) == (PROCESSOR, SAFEGUARD)
    assert Backend.objects.get(name="Ollama").processor == ""


def test_a_policy_file_is_checked_as_the_console_checks(db):
    make_backend(name="OpenAI")
    document = yaml.safe_load(export_policy())
    document["backends"][0]["processor"] = "OpenAI\nIreland"
    with pytest.raises(PolicyFileError) as refused:
        plan_import(yaml.safe_dump(document))
    assert refused.value.problems == [
        "backends[0].processor: Give one line of plain text, without line breaks or tabs."
    ]
    document["backends"][0]["processor"] = ""
    document["backends"][0]["transfer_safeguard"] = "x" * 301
    with pytest.raises(PolicyFileError) as refused:
        plan_import(yaml.safe_dump(document))
    assert refused.value.problems == [
        "backends[0].transfer_safeguard: Ensure this value has at most 300 characters (it has 301)."
    ]
