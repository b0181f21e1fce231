"""Backends in the policy console: create, edit, the write-only credential, disable, delete."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from rest_framework.test import APIClient

from api.services import create_token
from audit.models import AuditEvent
from config.env import STEWARD_VARIABLES, backend_key_variables
from governance.forms import BackendForm
from governance.models import Approval, Backend
from tests.factories import make_backend, make_category
from tests.fakes.llm_servers import FakeLLM
from tests.governance.console import HTMX, backend_form, only_event, policy_events

SECRET = "sk-live-0123456789abcdefSECRET"


def _everything_said(response) -> bytes:
    return response.content + json.dumps(dict(response.headers)).encode()


def test_it_creates_a_backend_and_seals_the_credential(client, admin):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", backend_form(credential=SECRET))
    backend = Backend.objects.get(name="Azure EU")
    assert response.status_code == 302
    assert response["Location"] == f"/policy/backends/{backend.public_id}/"
    assert SECRET.encode() not in bytes(backend.credential_encrypted)
    assert backend.open_credential() == SECRET
    assert backend.region == "eu" and backend.dpa_expires_on == dt.date(2030, 1, 31)


def test_creating_writes_one_event_without_the_secret(client, admin):
    client.force_login(admin)
    client.post("/policy/backends/new/", backend_form(credential=SECRET))
    event = only_event()
    assert event.target_type == "governance.backend"
    assert event.before is None
    assert event.after["name"] == "Azure EU"
    assert event.after["credential changed"] is True
    assert SECRET not in json.dumps([event.before, event.after, event.details, event.message])


def test_the_credential_never_appears_again(client, admin):
    client.force_login(admin)
    client.post("/policy/backends/new/", backend_form(credential=SECRET))
    backend = Backend.objects.get()
    pages = [
        client.get(f"/policy/backends/{backend.public_id}/"),
        client.get(f"/policy/backends/{backend.public_id}/", **HTMX),
        client.get("/policy/"),
        client.get("/policy/approvals/"),
        # an invalid edit re-renders the form: the key stays out of it too
        client.post(
            f"/policy/backends/{backend.public_id}/", backend_form(name="", credential=SECRET)
        ),
    ]
    for response in pages:
        assert SECRET.encode() not in _everything_said(response)
    assert b"a key is stored" in pages[0].content


def test_an_htmx_create_navigates_instead_of_redirecting(client, admin):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", backend_form(), **HTMX)
    backend = Backend.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/policy/backends/{backend.public_id}/"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://files.example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://user:hunter2@api.example.com/v1", "Remove the user name and password"),
        ("https://api.example.com/v1?api_key=abc", "carries a credential (api_key="),
        ("not a url", "http:// or https://"),
        ("https://exa mple.com", "Enter a valid URL"),
    ],
)
def test_bad_base_urls_are_refused_inline(client, admin, url, message):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", backend_form(base_url=url), **HTMX)
    assert response.status_code == 422
    assert b"<html" not in response.content
    assert b'id="backend-form"' in response.content
    assert message.encode() in response.content
    assert Backend.objects.count() == 0
    assert policy_events() == []


def test_a_url_with_a_password_is_not_echoed_back(client, admin):
    client.force_login(admin)
    response = client.post(
        "/policy/backends/new/", backend_form(base_url="https://u:hunter2@api.example.com/")
    )
    assert response.status_code == 422
    assert b"hunter2" not in response.content
    assert Backend.objects.count() == 0


def test_other_bad_input_is_explained(client, admin):
    make_backend(name="Azure EU")
    client.force_login(admin)
    response = client.post(
        "/policy/backends/new/",
        backend_form(base_url="", credential_env="MY KEY", dpa_signed=None),
    )
    assert response.status_code == 422
    text = response.content.decode()
    assert "A backend with this name already exists." in text
    assert "needs an address" in text
    assert "letters, digits and underscores" in text
    assert "tick “A data processing agreement is signed”" in text
    assert Backend.objects.count() == 1


OWN_SECRET_TEXT = (
    "This variable holds one of Steward's own secrets (or the machine's cloud credentials); "
    "name a variable that holds only this backend's key."
)
OWN_SECRET = OWN_SECRET_TEXT.replace("'", "&#x27;")  # as the page escapes it


@pytest.mark.parametrize(
    "name",
    [
        "STEWARD_MASTER_KEY",
        "SECRET_KEY",
        "STEWARD_AUDIT_SIGNING_KEY",
        "AWS_SECRET_ACCESS_KEY",  # the workers' own, for a Bedrock backend that stores none
    ],
)
def test_backend_credential_env_cannot_name_stewards_own_secrets(client, admin, monkeypatch, name):
    """Else "Test connection" would send the master key, say, to the admin's own server."""
    monkeypatch.setenv(name, getattr(django_settings, name, "a-cloud-secret"))  # as in production
    fake = FakeLLM("openai")
    client.force_login(admin)
    try:
        response = client.post(
            "/policy/backends/new/", backend_form(base_url=fake.url, credential_env=name)
        )
        for backend in Backend.objects.all():  # were it taken, its test would call the server
            client.post(f"/policy/backends/{backend.public_id}/test/")
    finally:
        fake.stop()
    assert fake.requests == []
    assert response.status_code == 422 and OWN_SECRET in response.content.decode()
    assert Backend.objects.count() == 0


def test_a_variable_the_server_offers_is_taken(db):
    form = BackendForm(data=backend_form(credential_env="AZURE_OPENAI_API_KEY"))
    assert "credential_env" not in form.errors


@pytest.mark.parametrize("name", ["PGPASSWORD", "REDIS_PASSWORD", "AZURE_CLIENT_SECRET"])
def test_a_variable_the_server_does_not_offer_is_refused_and_never_sent(
    client, admin, monkeypatch, name
):
    """An allowlist, not only Steward's own: else a policy admin could point a backend at
    their own server and have "Test connection" send it the database's password."""
    monkeypatch.setenv(name, "the-database-password")
    fake = FakeLLM("openai")
    client.force_login(admin)
    try:
        refused = client.post(
            "/policy/backends/new/", backend_form(base_url=fake.url, credential_env=name)
        )
        older_row = make_backend(
            name="Older row", kind="openai", base_url=fake.url, credential_env=name
        )
        assert older_row.key_missing
        client.post(f"/policy/backends/{older_row.public_id}/test/")
    finally:
        fake.stop()
    assert fake.requests == []
    page = refused.content.decode()
    assert refused.status_code == 422
    assert f"{name} is not among the variables this server offers" in page
    assert "STEWARD_BACKEND_KEY_VARIABLES" in page


@pytest.mark.parametrize(
    ("offered", "complaint"),
    [
        ("OPENAI_API_KEY,STEWARD_MASTER_KEY", "may not offer STEWARD_MASTER_KEY"),
        ("OPENAI_API_KEY,AWS_SECRET_ACCESS_KEY", "may not offer AWS_SECRET_ACCESS_KEY"),
        ("OPENAI API KEY", "OPENAI API KEY is not a variable name"),
    ],
)
def test_the_operator_cannot_offer_stewards_own_variables(monkeypatch, offered, complaint):
    monkeypatch.setenv("STEWARD_BACKEND_KEY_VARIABLES", offered)
    with pytest.raises(ImproperlyConfigured, match=complaint):
        backend_key_variables()


def test_the_vendors_usual_variables_are_offered_by_default(monkeypatch):
    monkeypatch.delenv("STEWARD_BACKEND_KEY_VARIABLES")
    assert "OPENAI_API_KEY" in backend_key_variables()
    assert "PGPASSWORD" not in backend_key_variables()


def test_the_rest_api_refuses_stewards_own_variables_too(admin):
    _, token = create_token(user=admin, name="t", expires_in_days=None, actor=admin)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    values = {"name": "Ollama", "kind": "ollama", "base_url": "http://127.0.0.1:11434"}
    values |= {"model": "llama3.2", "hosting_class": "on_prem"}
    created = api.post(
        "/api/governance/backends/",
        {**values, "credential_env": "email_host_password"},
        format="json",
    )
    assert (created.status_code, created.json()) == (400, {"credential_env": [OWN_SECRET_TEXT]})
    backend = make_backend()
    edited = api.patch(
        f"/api/governance/backends/{backend.public_id}/",
        {"credential_env": "STEWARD_MASTER_KEY_FILE"},
        format="json",
    )
    assert (edited.status_code, edited.json()) == (400, {"credential_env": [OWN_SECRET_TEXT]})
    backend.refresh_from_db()
    assert backend.credential_env == "" and Backend.objects.count() == 1


def test_every_variable_steward_reads_is_one_no_backend_may_name():
    """The refused names are one list (config.env); a variable read anywhere else in the code
    must be on it."""
    read = re.compile(
        r"(?:env_[a-z]+|_required_in_production|os\.environ(?:\.get|\.setdefault)?)"
        r'[(\[]\s*"([A-Z][A-Z0-9_]*)"'
    )
    root = Path(django_settings.BASE_DIR)
    packages = [p for p in root.iterdir() if (p / "__init__.py").exists()]
    names = set()
    for path in [root / "manage.py", *(f for p in packages for f in p.rglob("*.py"))]:
        if path.relative_to(root).parts[0] not in ("tests", "bench"):
            names |= set(read.findall(path.read_text()))
    assert {"SECRET_KEY", "STEWARD_AUDIT_SIGNING_KEY", "IDENTITY_HEADER"} <= names
    assert names - STEWARD_VARIABLES == set()


def as_stored(backend: Backend, **changes) -> dict:
    """The edit form of ``backend`` (an Ollama one) as stored, with ``changes``."""
    stored = {"name": backend.name, "kind": "ollama", "base_url": backend.base_url}
    stored |= {"model": backend.model, "hosting_class": "on_prem", "dpa_signed": None}
    stored |= {"dpa_expires_on": "", "provider_retention_days": ""}
    return backend_form(**(stored | changes))


def test_an_edit_records_only_what_changed(client, admin):
    backend = make_backend()
    client.force_login(admin)
    form = as_stored(backend, model="llama3.3")
    response = client.post(f"/policy/backends/{backend.public_id}/", form)
    assert response.status_code == 302
    event = only_event()
    assert event.before == {"model": "llama3.2", "region": ""}
    assert event.after == {"model": "llama3.3", "region": "eu"}
    # the history panel shows it: who, and before -> after
    page = client.get(f"/policy/backends/{backend.public_id}/").content.decode()
    assert "Backend edited" in page and "Ada Admin" in page
    assert "llama3.2" in page and "llama3.3" in page


def test_an_edit_without_changes_records_nothing(client, admin):
    backend = make_backend(region="eu")
    client.force_login(admin)
    form = as_stored(backend)
    client.post(f"/policy/backends/{backend.public_id}/", form)
    assert policy_events() == []


def test_replacing_the_credential_records_that_only(client, admin):
    backend = make_backend(region="eu")
    client.force_login(admin)
    form = as_stored(backend, credential=SECRET)
    client.post(f"/policy/backends/{backend.public_id}/", form)
    event = only_event()
    assert event.before == {}
    assert event.after == {"credential changed": True}


def test_disabling_asks_first_and_is_recorded(client, admin):
    backend = make_backend()
    client.force_login(admin)
    page = client.get(f"/policy/backends/{backend.public_id}/").content.decode()
    assert 'data-confirm="Disable Local Ollama?' in page
    response = client.post(f"/policy/backends/{backend.public_id}/state/", {"enabled": "0"})
    assert response.status_code == 302
    backend.refresh_from_db()
    assert backend.enabled is False
    event = only_event()
    assert (event.before, event.after) == ({"enabled": True}, {"enabled": False})
    client.post(f"/policy/backends/{backend.public_id}/state/", {"enabled": "0"})
    assert len(policy_events()) == 1  # already disabled: nothing to record


def test_a_backend_in_use_cannot_be_deleted(client, admin):
    backend = make_backend()
    Approval.objects.create(category=make_category(), backend=backend)
    client.force_login(admin)
    response = client.post(f"/policy/backends/{backend.public_id}/delete/", follow=True)
    assert "revoke those approvals first" in response.content.decode()
    assert Backend.objects.count() == 1
    assert policy_events() == []


def test_an_unused_backend_can_be_deleted(client, admin):
    backend = make_backend()
    client.force_login(admin)
    response = client.post(f"/policy/backends/{backend.public_id}/delete/", **HTMX)
    assert response["HX-Redirect"] == "/policy/"
    assert Backend.objects.count() == 0
    event = only_event()
    assert event.before["name"] == "Local Ollama" and event.after is None
    assert event.target_id == str(backend.public_id)


def test_the_dpa_warning_shows_30_days_ahead(client, admin):
    today = timezone.localdate()
    soon = make_backend(name="Soon", dpa_signed=True, dpa_expires_on=today + dt.timedelta(days=20))
    later = make_backend(
        name="Later", dpa_signed=True, dpa_expires_on=today + dt.timedelta(days=90)
    )
    gone = make_backend(name="Gone", dpa_signed=True, dpa_expires_on=today - dt.timedelta(days=1))
    client.force_login(admin)
    assert b"The DPA expires on" in client.get(f"/policy/backends/{soon.public_id}/").content
    assert b"The DPA expires on" not in client.get(f"/policy/backends/{later.public_id}/").content
    assert b"The DPA expired on" in client.get(f"/policy/backends/{gone.public_id}/").content
    hub = client.get("/policy/").content.decode()
    assert "badge-warn" in hub and "expired" in hub


def test_events_name_the_policy_change(client, admin):
    client.force_login(admin)
    client.post("/policy/backends/new/", backend_form())
    assert only_event().action == AuditEvent.Action.POLICY_CHANGED


STORED_KEY_FIRST = (
    "This backend has a stored key, which is used first: tick “Remove the stored key” to use "
    "the variable instead."
)


def test_switching_a_backend_to_an_environment_key_stops_using_the_stored_key(
    client, admin, monkeypatch
):
    """The stored key wins over the variable, so naming one is refused until the key is
    removed; removing it is audited (never the key), and the variable's key is then used."""
    from chat.llm.kinds import _key_of

    monkeypatch.setenv("EU_LLM_KEY", "sk-new-from-env")
    client.force_login(admin)
    client.post("/policy/backends/new/", backend_form(credential=SECRET))
    backend = Backend.objects.get()
    url = f"/policy/backends/{backend.public_id}/"
    assert b"Remove the stored key" in client.get(url).content
    refused = client.post(url, backend_form(credential_env="EU_LLM_KEY"), **HTMX)
    assert refused.status_code == 422
    assert STORED_KEY_FIRST in refused.content.decode()
    backend.refresh_from_db()
    assert backend.credential_env == "" and _key_of(backend) == SECRET

    switched = client.post(url, backend_form(credential_env="EU_LLM_KEY", remove_credential="on"))
    assert switched.status_code == 302
    backend.refresh_from_db()
    assert not backend.credential_encrypted and _key_of(backend) == "sk-new-from-env"
    event = next(e for e in policy_events() if e.message == "Backend edited")
    assert event.before == {"credential_env": "", "has_credential": True}
    assert event.after == {"credential_env": "EU_LLM_KEY", "has_credential": False}
    assert b"Remove the stored key" not in client.get(url).content


def test_a_cloud_backend_can_go_back_to_the_workers_own_identity(client, admin):
    """Bedrock, Azure and Vertex AI use the workers' identity when no key is given."""
    backend = make_backend(region="eu")
    backend.seal_credential("AKIAEXAMPLE:secret")
    backend.save()
    client.force_login(admin)
    form = as_stored(backend, remove_credential="on")
    assert client.post(f"/policy/backends/{backend.public_id}/", form).status_code == 302
    backend.refresh_from_db()
    assert not backend.credential_encrypted
    event = only_event()
    assert (event.before, event.after) == ({"has_credential": True}, {"has_credential": False})


def test_a_new_key_and_its_removal_are_not_asked_at_once(client, admin):
    client.force_login(admin)
    client.post("/policy/backends/new/", backend_form(credential=SECRET))
    backend = Backend.objects.get()
    response = client.post(
        f"/policy/backends/{backend.public_id}/",
        backend_form(credential="sk-other", remove_credential="on"),
        **HTMX,
    )
    assert response.status_code == 422
    assert "Type a new key or remove the stored one, not both." in response.content.decode()
    backend.refresh_from_db()
    assert backend.open_credential() == SECRET


def test_the_rest_api_removes_the_stored_key(admin, monkeypatch):
    monkeypatch.setenv("EU_LLM_KEY", "sk-new-from-env")
    _, token = create_token(user=admin, name="t", expires_in_days=None, actor=admin)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    backend = make_backend()
    backend.seal_credential(SECRET)
    backend.save()
    url = f"/api/governance/backends/{backend.public_id}/"
    refused = api.patch(url, {"credential_env": "EU_LLM_KEY"}, format="json")
    assert (refused.status_code, refused.json()) == (400, {"credential_env": [STORED_KEY_FIRST]})
    switched = api.patch(
        url, {"credential_env": "EU_LLM_KEY", "remove_credential": True}, format="json"
    )
    assert switched.status_code == 200
    assert switched.json()["has_credential"] is False
    assert switched.json()["credential_env"] == "EU_LLM_KEY"


def test_the_console_says_when_a_backends_key_variable_is_not_set(client, admin, monkeypatch):
    """Such a backend is passed over (the next approved one answers): an admin sees why on
    the console's list and on the backend's page, before staff wonder."""
    monkeypatch.delenv("STEWARD_TEST_UNSET_KEY", raising=False)
    backend = make_backend(name="Keyless API", credential_env="STEWARD_TEST_UNSET_KEY")
    assert backend.key_missing
    client.force_login(admin)
    dashboard = client.get("/").content.decode()
    assert "no key" in dashboard  # the dashboard's list of backends
    assert '0/1</span><span class="stat-label">backends ready' in dashboard  # not "enabled"
    for url in ("/policy/", f"/policy/backends/{backend.public_id}/"):
        page = client.get(url).content.decode()
        assert "no key" in page, url
        assert "STEWARD_TEST_UNSET_KEY</code> is not set on this server" in page, url
    monkeypatch.setenv("STEWARD_TEST_UNSET_KEY", "sk-set")
    assert not backend.key_missing
    for url in ("/policy/", f"/policy/backends/{backend.public_id}/"):
        assert "is not set on this server" not in client.get(url).content.decode(), url
    backend.seal_credential("sk-stored")  # a stored key comes first
    monkeypatch.delenv("STEWARD_TEST_UNSET_KEY")
    assert not backend.key_missing


def test_the_new_backend_form_speaks_of_a_new_backend(client, admin):
    """ "Leave empty to keep the stored key" beside "No key is stored"; a taken name was
    Django's "Backend with this Name already exists."."""
    client.force_login(admin)
    page = client.get("/policy/backends/new/").content.decode()
    assert "Leave empty to keep the stored key" not in page
    client.post("/policy/backends/new/", backend_form(credential=SECRET))
    again = client.post("/policy/backends/new/", backend_form()).content.decode()
    assert "A backend with this name already exists." in again
    backend = Backend.objects.get(name="Azure EU")
    page = client.get(f"/policy/backends/{backend.public_id}/").content.decode()
    assert "Leave empty to keep the stored key" in page  # one is stored


def test_a_backends_history_names_values_as_the_form_does_and_skips_empty_fields(client, admin):
    """ "Created" listed every field, empty ones as "— → —", and values as codes ("openai",
    "external_api")."""
    client.force_login(admin)
    client.post("/policy/backends/new/", backend_form(credential=SECRET))
    backend = Backend.objects.get(name="Azure EU")
    page = client.get(f"/policy/backends/{backend.public_id}/").content.decode()
    history = page[page.index('<section id="history"') :]
    pair = r'<span class="was">([^<]*)</span>.*?<span class="now">([^<]*)</span>'
    rows = re.findall(pair, history)
    assert rows and ("—", "—") not in rows
    shown = [now for _, now in rows]
    assert backend.get_kind_display() in shown and backend.kind not in shown
    assert backend.get_hosting_class_display() in shown and backend.hosting_class not in shown
