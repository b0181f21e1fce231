"""A stored key goes only where it was entered for: an edit that points a backend elsewhere
(its address, its kind, the region that names Bedrock's or Vertex AI's host) removes it,
unless a new key is typed in the same save. Else a policy admin, who can never read the key,
could send it to a server of their own with "Test connection"."""

import datetime as dt
import json

import pytest
from rest_framework.test import APIClient

from api.services import create_token
from governance import services
from governance.models import Backend, HostingClass
from tests.factories import make_backend
from tests.fakes.llm_servers import FakeLLM
from tests.governance.console import HTMX, backend_form, only_event

KEY = "sk-live-ONLY-OPS-KNOW-THIS-0123456789"
NEW_KEY = "sk-live-the-new-address-own-key-42"
REMOVED = (
    "The stored key was removed because the address changed: enter the key again for the new "
    "address."
)


@pytest.fixture
def old():
    server = FakeLLM("openai")
    yield server
    server.stop()


@pytest.fixture
def new():
    server = FakeLLM("openai")
    yield server
    server.stop()


@pytest.fixture
def backend(db, old):
    """An OpenAI-compatible backend at ``old``, as ``backend_form()`` describes it, key stored."""
    backend = make_backend(
        name="Azure EU",
        kind=Backend.Kind.OPENAI,
        base_url=old.url,
        model="gpt-4o",
        hosting_class=HostingClass.PRIVATE_CLOUD,
        provider_retention_days=0,
        region="eu",
        dpa_signed=True,
        dpa_expires_on=dt.date(2030, 1, 31),
    )
    backend.seal_credential(KEY)
    backend.save(update_fields=["credential_encrypted"])
    return backend


def _page(backend: Backend) -> str:
    return f"/policy/backends/{backend.public_id}/"


def _api(user) -> APIClient:
    _, token = create_token(user=user, name="t", expires_in_days=None, actor=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def _keys_received(server: FakeLLM) -> list[str]:
    """Every header value the server received that carries one of our keys."""
    return [
        value
        for request in server.requests
        for value in request.headers.values()
        if KEY in value or NEW_KEY in value
    ]


def _test_connection(client, backend: Backend) -> None:
    client.post(f"/policy/backends/{backend.public_id}/test/")


def test_it_does_not_send_the_stored_key_to_a_new_address(client, admin, backend, old, new):
    client.force_login(admin)
    saved = client.post(_page(backend), backend_form(base_url=new.url))
    assert saved.status_code == 302
    _test_connection(client, backend)
    assert new.requests, "the test connection called the new address"
    assert _keys_received(new) == []
    assert old.requests == []
    backend.refresh_from_db()
    assert backend.base_url == new.url and not backend.credential_encrypted


def test_the_rest_api_does_not_send_it_either_and_says_so(client, admin, backend, new):
    response = _api(admin).patch(
        f"/api/governance/backends/{backend.public_id}/", {"base_url": new.url}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["base_url"] == new.url
    assert body["has_credential"] is False
    assert body["notice"] == REMOVED
    client.force_login(admin)
    _test_connection(client, backend)
    assert new.requests and _keys_received(new) == []


def test_the_rest_apis_answer_can_be_sent_back(admin, backend, new):
    """``notice`` is one of the fields shown, so a PUT may send back what a PATCH answered."""
    api, url = _api(admin), f"/api/governance/backends/{backend.public_id}/"
    answered = api.patch(url, {"base_url": new.url}, format="json").json()
    again = api.put(url, answered, format="json")
    assert again.status_code == 200, again.content
    assert again.json()["notice"] == "" and api.get(url).json()["notice"] == ""


def test_the_rest_api_says_nothing_more_when_the_key_stays(admin, backend):
    response = _api(admin).patch(
        f"/api/governance/backends/{backend.public_id}/", {"model": "gpt-4.1"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["has_credential"] is True
    assert response.json()["notice"] == ""


def test_the_removal_is_recorded_with_the_edit(client, admin, backend, new):
    old_url = backend.base_url
    client.force_login(admin)
    client.post(_page(backend), backend_form(base_url=new.url))
    event = only_event()
    assert event.before == {"base_url": old_url, "has_credential": True}
    assert event.after == {"base_url": new.url, "has_credential": False}
    assert event.message == (
        "Backend edited: the stored key was removed because the address changed"
    )
    assert KEY not in json.dumps([event.before, event.after, event.details, event.message])
    history = client.get(_page(backend)).content.decode()
    assert "the stored key was removed because the address changed" in history


def test_the_page_says_so(client, admin, backend, new):
    client.force_login(admin)
    response = client.post(_page(backend), backend_form(base_url=new.url), follow=True)
    page = response.content.decode()
    assert REMOVED in page
    assert "No key is stored." in page  # and the credential section agrees


def test_the_page_says_so_after_an_htmx_save(client, admin, backend, new):
    client.force_login(admin)
    response = client.post(_page(backend), backend_form(base_url=new.url), **HTMX)
    assert response["HX-Redirect"] == _page(backend)
    assert REMOVED in client.get(_page(backend)).content.decode()


def test_the_form_warns_before_saving(client, admin, backend):
    client.force_login(admin)
    page = client.get(_page(backend)).content.decode()
    assert "Leave empty to keep the stored key" in page
    assert "it is removed if the kind, the address or (Bedrock, Vertex AI) the region" in page


def test_a_new_key_typed_in_the_same_save_is_kept_and_sent(client, admin, backend, old, new):
    client.force_login(admin)
    response = client.post(
        _page(backend), backend_form(base_url=new.url, credential=NEW_KEY), follow=True
    )
    assert REMOVED not in response.content.decode()
    backend.refresh_from_db()
    assert backend.open_credential() == NEW_KEY
    event = only_event()
    assert event.after == {"base_url": new.url, "credential changed": True}
    assert event.message == "Backend edited"
    _test_connection(client, backend)
    assert _keys_received(new) == [f"Bearer {NEW_KEY}"]
    assert old.requests == []


def test_the_rest_api_keeps_a_new_key_given_with_the_new_address(admin, backend, new):
    response = _api(admin).patch(
        f"/api/governance/backends/{backend.public_id}/",
        {"base_url": new.url, "credential": NEW_KEY},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["has_credential"] is True and response.json()["notice"] == ""
    backend.refresh_from_db()
    assert backend.open_credential() == NEW_KEY


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Azure EU (prod)"},
        {"model": "gpt-4.1"},
        {"region": "us"},  # for this kind only a routing attribute: the address stays
        {"context_tokens": "64000"},
        {"hosting_class": "external_api", "dpa_signed": None, "dpa_expires_on": ""},
    ],
)
def test_an_edit_that_keeps_the_address_keeps_the_key(client, admin, backend, old, change):
    client.force_login(admin)
    response = client.post(_page(backend), backend_form(base_url=old.url, **change), follow=True)
    assert REMOVED not in response.content.decode()
    backend.refresh_from_db()
    assert backend.open_credential() == KEY
    assert "has_credential" not in only_event().after
    _test_connection(client, backend)
    assert _keys_received(old) == [f"Bearer {KEY}"]


def test_changing_the_kind_removes_the_key(client, admin, backend, old):
    """The same address, another kind: the key goes to another service's default host or in
    another vendor's header, so it was entered for something else."""
    client.force_login(admin)
    response = client.post(
        _page(backend), backend_form(base_url=old.url, kind="mistral"), follow=True
    )
    assert (
        "The stored key was removed because the kind changed: enter the key again for the new "
        "kind." in response.content.decode()
    )
    backend.refresh_from_db()
    assert backend.kind == Backend.Kind.MISTRAL and not backend.credential_encrypted
    assert only_event().after["has_credential"] is False


def _cloud_backend(kind: str, region: str, **values) -> Backend:
    backend = make_backend(
        name=f"{kind} backend",
        kind=kind,
        base_url="",
        model="a-model",
        region=region,
        hosting_class=HostingClass.PRIVATE_CLOUD,
        **values,
    )
    backend.seal_credential("AKIAEXAMPLE:secret" if kind == Backend.Kind.BEDROCK else KEY)
    backend.save(update_fields=["credential_encrypted"])
    return backend


@pytest.mark.parametrize(
    ("kind", "values", "region", "other_region"),
    [
        (Backend.Kind.BEDROCK, {}, "eu-central-1", "us-east-1"),
        (Backend.Kind.VERTEX, {"project": "proj-1"}, "europe-west4", "us-central1"),
    ],
)
def test_a_region_that_names_the_host_counts_as_the_address(
    admin, kind, values, region, other_region
):
    """Bedrock's and Vertex AI's host is named after the region (bedrock-runtime.REGION.
    amazonaws.com, REGION-aiplatform.googleapis.com)."""
    backend = _cloud_backend(kind, region, **values)
    saved = services.save_backend(
        backend=backend, values={"region": other_region}, credential="", actor=admin
    )
    assert not saved.credential_encrypted
    assert saved.credential_notice == (
        "The stored key was removed because the region changed: enter the key again for the "
        "new region."
    )
    assert only_event().after == {"region": other_region, "has_credential": False}


@pytest.mark.parametrize(
    "change",
    [
        {"model": "other-deployment"},  # the deployment: a path on the same resource
        {"api_version": "2025-01-01"},
        {"region": "westeurope"},  # a routing attribute: the address names the host
    ],
)
def test_an_azure_backend_keeps_its_key_on_its_own_resource(admin, change):
    backend = make_backend(
        name="Azure",
        kind=Backend.Kind.AZURE,
        base_url="https://contoso.openai.azure.com",
        model="gpt-4o",
        api_version="2024-10-21",
        region="swedencentral",
        hosting_class=HostingClass.PRIVATE_CLOUD,
    )
    backend.seal_credential(KEY)
    backend.save(update_fields=["credential_encrypted"])
    saved = services.save_backend(backend=backend, values=change, credential="", actor=admin)
    assert saved.open_credential() == KEY and saved.credential_notice == ""


def test_removing_the_key_while_moving_needs_no_notice(client, admin, backend, new):
    """The admin asked for it: the removal is recorded, and not explained back to them."""
    client.force_login(admin)
    response = client.post(
        _page(backend), backend_form(base_url=new.url, remove_credential="on"), follow=True
    )
    assert REMOVED not in response.content.decode()
    backend.refresh_from_db()
    assert not backend.credential_encrypted
    event = only_event()
    assert event.message == "Backend edited"
    assert event.after == {"base_url": new.url, "has_credential": False}


def test_a_key_read_from_a_variable_is_not_stored_and_stays_named(
    client, admin, monkeypatch, old, new
):
    """The variables a backend may name are the ones the operator offers to every backend
    (STEWARD_BACKEND_KEY_VARIABLES): naming one is not a secret to lose, so a new address
    keeps it."""
    monkeypatch.setenv("EU_LLM_KEY", KEY)
    backend = make_backend(
        name="Azure EU", kind=Backend.Kind.OPENAI, base_url=old.url, credential_env="EU_LLM_KEY"
    )
    client.force_login(admin)
    response = client.post(
        _page(backend), backend_form(base_url=new.url, credential_env="EU_LLM_KEY"), follow=True
    )
    assert response.status_code == 200
    assert "The stored key was removed" not in response.content.decode()
    backend.refresh_from_db()
    assert backend.credential_env == "EU_LLM_KEY" and backend.base_url == new.url
    assert "has_credential" not in only_event().after


def test_creating_a_backend_keeps_its_key(admin):
    created = services.save_backend(
        backend=None,
        values={
            "name": "New",
            "kind": Backend.Kind.OPENAI,
            "base_url": "https://llm.example.com/v1",
            "model": "m",
            "hosting_class": HostingClass.EXTERNAL_API,
        },
        credential=KEY,
        actor=admin,
    )
    assert created.open_credential() == KEY and created.credential_notice == ""


def _checked(backend: Backend) -> None:
    Backend.objects.filter(pk=backend.pk).update(
        health_checked_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        health_latency_ms=12,
        health_error="HTTP 500 from the old address",
    )


def test_a_move_forgets_the_old_addresss_health(client, admin, backend, new):
    """The health panel (and the dashboard) would show the old address's last test as the
    new one's."""
    _checked(backend)
    client.force_login(admin)
    client.post(_page(backend), backend_form(base_url=new.url))
    backend.refresh_from_db()
    assert backend.health_checked_at is None and backend.health_latency_ms is None
    assert backend.health_error == ""


def test_an_edit_that_keeps_the_address_keeps_its_health(client, admin, backend, old):
    _checked(backend)
    client.force_login(admin)
    client.post(_page(backend), backend_form(base_url=old.url, model="gpt-4.1"))
    backend.refresh_from_db()
    assert backend.health_latency_ms == 12 and backend.health_error.startswith("HTTP 500")
