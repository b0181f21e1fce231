"""The backend form for the cloud kinds (Bedrock, Azure OpenAI, Vertex AI, Mistral), and
"Test connection" for every kind, against fakes on loopback with the real clients."""

import pytest

from governance.models import Backend, HostingClass
from tests.chat.conftest import BACKEND_VALUES, MODELS, key_for
from tests.factories import make_backend
from tests.fakes.llm_servers import FakeLLM
from tests.governance.console import HTMX, backend_form

SECRET = "sk-live-0123456789abcdefSECRET"


def _create(client, **fields):
    return client.post("/policy/backends/new/", backend_form(**fields))


def _errors(response) -> dict:
    return response.context["form"].errors


def test_a_bedrock_backend_is_private_cloud_unless_told_otherwise(client, admin):
    client.force_login(admin)
    response = _create(
        client,
        name="Bedrock EU",
        kind="bedrock",
        base_url="",
        model="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        region="eu-central-1",
        hosting_class="",
        credential=f"AKIAEXAMPLE:{SECRET}",
    )
    assert response.status_code == 302
    backend = Backend.objects.get(name="Bedrock EU")
    assert backend.hosting_class == HostingClass.PRIVATE_CLOUD
    assert backend.open_credential() == f"AKIAEXAMPLE:{SECRET}"
    assert backend.context_budget == Backend.DEFAULT_CONTEXT_TOKENS


def test_bedrock_wants_an_aws_region_and_a_key_pair(client, admin):
    client.force_login(admin)
    response = _create(client, kind="bedrock", region="eu", credential=SECRET)
    errors = _errors(response)
    assert "AWS region" in errors["region"][0]
    assert "ACCESS_KEY_ID:SECRET_ACCESS_KEY" in errors["credential"][0]
    assert SECRET.encode() not in response.content


def test_vertex_needs_its_project_and_location(client, admin):
    client.force_login(admin)
    errors = _errors(_create(client, kind="vertex", base_url="", region="", project=""))
    assert "project" in errors["project"][0] and "location" in errors["region"][0]
    response = _create(
        client,
        kind="vertex",
        base_url="",
        region="europe-west4",
        project="proj-1",
        hosting_class="",
    )
    assert response.status_code == 302
    backend = Backend.objects.get()
    assert (backend.project, backend.hosting_class) == ("proj-1", HostingClass.PRIVATE_CLOUD)


def test_azure_needs_an_address_and_a_real_api_version(client, admin):
    client.force_login(admin)
    errors = _errors(_create(client, kind="azure", base_url="", api_version="v2"))
    assert "address" in errors["base_url"][0] and "2024-10-21" in errors["api_version"][0]


def test_mistral_needs_no_address_and_other_kinds_drop_the_azure_and_vertex_fields(client, admin):
    client.force_login(admin)
    response = _create(
        client, kind="mistral", base_url="", hosting_class="", api_version="2024-10-21", project="x"
    )
    assert response.status_code == 302
    backend = Backend.objects.get()
    assert (backend.api_version, backend.project) == ("", "")
    assert backend.hosting_class == HostingClass.EXTERNAL_API


def test_the_form_explains_each_kind(client, admin):
    client.force_login(admin)
    page = client.get("/policy/backends/new/").content.decode()
    assert 'name="api_version"' in page and 'name="project"' in page
    assert 'name="context_tokens"' in page
    assert "kind-note-bedrock" in page and "ACCESS_KEY_ID:SECRET_ACCESS_KEY" in page
    assert "/openai/v1" in page


@pytest.mark.parametrize("fake_kind", list(MODELS))
def test_test_connection_works_for_every_kind(client, admin, fake_kind):
    fake = FakeLLM(fake_kind)
    try:
        values = {"kind": fake_kind, **BACKEND_VALUES.get(fake_kind, {})}
        backend = make_backend(
            name="Under test", base_url=fake.url, model=MODELS[fake_kind], **values
        )
        backend.seal_credential(key_for(fake_kind, SECRET))
        backend.save(update_fields=["credential_encrypted"])
        client.force_login(admin)
        response = client.post(f"/policy/backends/{backend.public_id}/test/", **HTMX)
        backend.refresh_from_db()
        assert backend.health_error == "" and backend.health_latency_ms is not None
        assert b"answered" in response.content and fake.requests
        fake.fail = 403
        client.post(f"/policy/backends/{backend.public_id}/test/", **HTMX)
        backend.refresh_from_db()
        assert "HTTP 403" in backend.health_error and SECRET not in backend.health_error
    finally:
        fake.stop()


def test_the_readmes_backend_examples_import(db):
    """The README's policy-file example for the cloud kinds is one the import accepts."""
    from pathlib import Path

    from governance.policy_io import plan_import

    readme = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    example = readme.split("In a policy file")[1].split("```yaml\n")[1].split("```")[0]
    plan = plan_import("version: 1\n" + example)
    assert plan.lines == [
        "+ backend Bedrock EU",
        "+ backend Azure OpenAI EU",
        "+ backend Gemini EU",
        "+ backend Mistral",
    ]
