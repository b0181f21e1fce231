"""With no key, Azure OpenAI and Vertex AI sign in as the workers themselves (the machine's
managed identity; the metadata server's service account or GOOGLE_APPLICATION_CREDENTIALS),
and the token goes with every call to the backend's address. A policy admin chooses that
address, so the workers' identity goes only to the vendor's own hosts: the console, the
REST API and a policy file refuse any other, and "Test connection" refuses a backend saved
before, without asking for a token."""

import html

import pytest
import yaml
from rest_framework.test import APIClient

from api.services import create_token
from chat.llm import clouds as llm_clouds
from governance.models import Backend, HostingClass
from governance.policy_io import PolicyFileError, export_policy, plan_import
from tests.factories import make_backend
from tests.fakes.llm_servers import VERTEX_PROJECT, VERTEX_REGION, FakeLLM, FakeTokenServer
from tests.governance.console import HTMX, backend_form

KEY = "sk-live-ONLY-OPS-KNOW-THIS-0123456789"
ELSEWHERE = "https://llm.attacker.example"
GOOGLE_REFUSAL = (
    "The workers' own identity is sent only to Google's own addresses (*.googleapis.com): "
    "store a key for this address, or use Google's."
)
AZURE_REFUSAL = "The workers' own identity is sent only to Azure's own addresses ("
VERTEX = {
    "kind": "vertex",
    "model": "google/gemini-2.5-flash",
    "project": VERTEX_PROJECT,
    "region": VERTEX_REGION,
    "api_version": "",
}
AZURE = {"kind": "azure", "model": "gpt-4o-deployment", "api_version": "2024-10-21"}


@pytest.fixture
def tokens(monkeypatch):
    """Google's metadata server and Azure's managed identity endpoint, on loopback."""
    server = FakeTokenServer()
    monkeypatch.setenv("GCE_METADATA_HOST", server.url.removeprefix("http://"))
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-1")
    yield server
    server.stop()


def _errors(response) -> dict:
    return response.context["form"].errors


def _api(user) -> APIClient:
    _, token = create_token(user=user, name="t", expires_in_days=None, actor=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


# --- the console and the REST API refuse to save it -----------------------------------


def test_the_console_refuses_vertex_without_a_key_at_another_address(client, admin):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", backend_form(base_url=ELSEWHERE, **VERTEX))
    assert response.status_code == 422
    assert _errors(response)["base_url"] == [GOOGLE_REFUSAL]
    assert not Backend.objects.exists()


def test_the_console_refuses_azure_without_a_key_at_another_address(client, admin):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", backend_form(base_url=ELSEWHERE, **AZURE))
    (problem,) = _errors(response)["base_url"]
    assert problem.startswith(AZURE_REFUSAL) and "*.openai.azure.com" in problem
    assert not Backend.objects.exists()


@pytest.mark.parametrize(
    ("values", "address"),
    [
        (VERTEX, ""),  # Google's own regional endpoint
        (VERTEX, "https://europe-west4-aiplatform.googleapis.com"),
        (VERTEX, "https://vertex-steward.p.googleapis.com"),  # Private Service Connect
        (AZURE, "https://contoso.openai.azure.com"),
        (AZURE, "https://contoso.services.ai.azure.com"),
    ],
)
def test_the_vendors_own_address_saves_without_a_key(client, admin, values, address):
    client.force_login(admin)
    response = client.post("/policy/backends/new/", backend_form(base_url=address, **values))
    assert response.status_code == 302, _errors(response)
    assert Backend.objects.get().base_url == address


@pytest.mark.parametrize("key", [{"credential": KEY}, {"credential_env": "EU_LLM_KEY"}])
def test_a_key_of_its_own_may_go_to_any_address(client, admin, key):
    client.force_login(admin)
    response = client.post(
        "/policy/backends/new/", backend_form(base_url=ELSEWHERE, **VERTEX, **key)
    )
    assert response.status_code == 302, _errors(response)


def _stored(values: dict, base_url: str) -> Backend:
    backend = make_backend(
        name="Cloud", base_url=base_url, hosting_class=HostingClass.PRIVATE_CLOUD, **values
    )
    backend.seal_credential(KEY)
    backend.save(update_fields=["credential_encrypted"])
    return backend


def _edit_form(values: dict, **changes) -> dict:
    return backend_form(name="Cloud", hosting_class="private_cloud", **{**values, **changes})


def test_moving_a_backend_whose_key_would_be_removed_needs_a_new_key(client, admin):
    """Moving removes the stored key (it goes only where it was entered for), which would
    leave the workers' identity to go to the new address: a new key must come with it."""
    backend = _stored(VERTEX, "https://europe-west4-aiplatform.googleapis.com")
    client.force_login(admin)
    page = f"/policy/backends/{backend.public_id}/"
    response = client.post(page, _edit_form(VERTEX, base_url=ELSEWHERE))
    assert _errors(response)["base_url"] == [GOOGLE_REFUSAL]
    backend.refresh_from_db()
    assert backend.open_credential() == KEY and backend.base_url.endswith("googleapis.com")
    response = client.post(page, _edit_form(VERTEX, base_url=ELSEWHERE, credential="new-key"))
    assert response.status_code == 302, _errors(response)


def test_a_stored_key_at_another_address_stays_and_may_not_be_removed(client, admin):
    backend = _stored(VERTEX, ELSEWHERE)
    client.force_login(admin)
    page = f"/policy/backends/{backend.public_id}/"
    response = client.post(page, _edit_form(VERTEX, base_url=ELSEWHERE, model="other"))
    assert response.status_code == 302, _errors(response)
    response = client.post(page, _edit_form(VERTEX, base_url=ELSEWHERE, remove_credential="on"))
    assert _errors(response)["base_url"] == [GOOGLE_REFUSAL]
    backend.refresh_from_db()
    assert backend.open_credential() == KEY


def test_a_variable_may_replace_the_key_a_move_removes(client, admin):
    """The stored key is removed by the move, so the variable is the one used: not refused
    as a variable beside a stored key is."""
    backend = _stored(VERTEX, "https://europe-west4-aiplatform.googleapis.com")
    client.force_login(admin)
    response = client.post(
        f"/policy/backends/{backend.public_id}/",
        _edit_form(VERTEX, base_url=ELSEWHERE, credential_env="EU_LLM_KEY"),
    )
    assert response.status_code == 302, _errors(response)
    backend.refresh_from_db()
    assert not backend.credential_encrypted and backend.credential_env == "EU_LLM_KEY"


def test_the_rest_api_refuses_it_too(admin):
    body = {
        "name": "Gemini",
        "base_url": ELSEWHERE,
        "hosting_class": "private_cloud",
        **VERTEX,
    }
    response = _api(admin).post("/api/governance/backends/", body, format="json")
    assert response.status_code == 400
    assert response.json()["base_url"] == [GOOGLE_REFUSAL]
    assert not Backend.objects.exists()


def test_a_policy_file_is_refused_it_too(db):
    document = {
        "version": 1,
        "backends": [
            {"name": "Gemini", "base_url": ELSEWHERE, "hosting_class": "private_cloud", **VERTEX}
        ],
    }
    with pytest.raises(PolicyFileError) as caught:
        plan_import(yaml.safe_dump(document))
    assert caught.value.problems == [f"backends[0].base_url: {GOOGLE_REFUSAL}"]


def test_a_policy_file_moving_a_backend_whose_key_it_removes_is_refused(db):
    """The move removes the stored key (a file carries none), which would leave the
    workers' identity to go to the new address."""
    backend = _stored(VERTEX, "https://europe-west4-aiplatform.googleapis.com")
    document = yaml.safe_load(export_policy())
    document["backends"][0]["base_url"] = ELSEWHERE
    with pytest.raises(PolicyFileError) as caught:
        plan_import(yaml.safe_dump(document))
    assert caught.value.problems == [f"backends[0].base_url: {GOOGLE_REFUSAL}"]
    backend.refresh_from_db()
    assert backend.open_credential() == KEY


# --- a backend saved before: refused at the call, before any token is fetched --------


@pytest.mark.parametrize(("values", "fake_kind"), [(VERTEX, "vertex"), (AZURE, "azure")])
def test_test_connection_refuses_in_words_and_fetches_no_token(
    client, admin, tokens, values, fake_kind
):
    fake = FakeLLM(fake_kind)
    try:
        backend = make_backend(name="Saved before", base_url=fake.url, **values)
        client.force_login(admin)
        response = client.post(f"/policy/backends/{backend.public_id}/test/", **HTMX)
        backend.refresh_from_db()
        assert backend.health_error.startswith("Saved before has no key, and the workers' own")
        assert "store a key for this address" in backend.health_error
        assert backend.health_error in html.unescape(response.content.decode())
        assert tokens.requests == [] and fake.requests == []
    finally:
        fake.stop()


def test_test_connection_at_the_vendors_address_uses_the_workers_identity(
    client, admin, tokens, monkeypatch
):
    """The same backend, its loopback fake taken for Google's host, is signed in as the
    workers (so the refusal above is the address's doing)."""
    monkeypatch.setattr(llm_clouds, "GOOGLE_DOMAINS", ("googleapis.com", "127.0.0.1"))
    fake = FakeLLM("vertex")
    try:
        backend = make_backend(name="Saved before", base_url=fake.url, **VERTEX)
        client.force_login(admin)
        client.post(f"/policy/backends/{backend.public_id}/test/", **HTMX)
        backend.refresh_from_db()
        assert backend.health_error == ""
        assert len(tokens.requests) == 1
        assert fake.last.headers["authorization"] == "Bearer token-1"
    finally:
        fake.stop()
