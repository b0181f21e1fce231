"""Azure OpenAI, Vertex AI and Mistral: each one's quirks, against fakes on loopback."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chat.llm import ChatMessage, LLMError, Usage, adapter_for
from chat.llm import clouds as llm_clouds
from tests.chat.conftest import KEY
from tests.fakes.llm_servers import FakeLLM, FakeTokenServer

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello")]


@pytest.fixture
def tokens():
    server = FakeTokenServer()
    yield server
    server.stop()


@pytest.fixture
def serve():
    """Starts fake servers of the kinds asked for; stops them after the test."""
    started = []

    def start(kind: str) -> FakeLLM:
        started.append(FakeLLM(kind))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def vendor_hosts(monkeypatch):
    """Treat the loopback fakes as Google's and Azure's own hosts, to which the workers' own
    identity may go (in life: *.googleapis.com, *.openai.azure.com, ...)."""
    for name in ("GOOGLE_DOMAINS", "AZURE_DOMAINS"):
        monkeypatch.setattr(llm_clouds, name, (*getattr(llm_clouds, name), "127.0.0.1"))


def _answer(backend) -> str:
    return "".join(adapter_for(backend).stream(MESSAGES, timeout=5))


def _sealed(backend, key: str):
    backend.seal_credential(key)
    backend.save(update_fields=["credential_encrypted"])
    return backend


# --- Azure OpenAI ----------------------------------------------------------------------


def test_azure_classic_puts_the_deployment_in_the_path(serve, backend_for):
    azure = serve("azure")
    assert _answer(backend_for(azure)) == "Hello, world!"
    assert azure.last.path == (
        "/openai/deployments/gpt-4o-deployment/chat/completions?api-version=2024-10-21"
    )
    assert azure.last.headers["api-key"] == KEY
    assert azure.last.body["max_completion_tokens"] == 8192  # Azure's name for max_tokens
    assert "max_tokens" not in azure.last.body


def test_azure_v1_needs_no_api_version_and_completes_the_path(serve, backend_for):
    azure_v1 = serve("azure_v1")
    root = azure_v1.url.removesuffix("/openai/v1")
    backend = backend_for(azure_v1, base_url=root)
    assert _answer(backend) == "Hello, world!"
    assert azure_v1.last.path == "/openai/v1/chat/completions"
    assert azure_v1.last.headers["api-key"] == KEY


def test_azure_skips_chunks_without_choices_and_keeps_usage(serve, backend_for):
    azure = serve("azure")
    adapter = adapter_for(backend_for(azure))
    assert list(adapter.stream(MESSAGES, timeout=5)) == ["Hello", ", ", "world", "!"]
    assert adapter.usage == Usage(12, 4)


@pytest.mark.parametrize("fake_kind", ["azure", "azure_v1"])
def test_azure_signs_in_with_an_entra_service_principal(fake_kind, serve, tokens, backend_for):
    fake = serve(fake_kind)
    principal = {
        "tenant_id": "tenant-1",
        "client_id": "client-1",
        "client_secret": KEY,
        "authority": tokens.url,
    }
    backend = backend_for(fake, key=json.dumps(principal))
    assert _answer(backend) == "Hello, world!"
    assert _answer(backend) == "Hello, world!"
    assert fake.last.headers["authorization"] == "Bearer token-1"
    assert "api-key" not in fake.last.headers
    assert len(tokens.requests) == 1  # kept until shortly before it expires
    asked = tokens.requests[0]
    assert asked.path == "/tenant-1/oauth2/v2.0/token"
    assert asked.body["grant_type"] == "client_credentials"
    assert asked.body["scope"] == "https://cognitiveservices.azure.com/.default"


def test_azure_without_a_key_uses_the_managed_identity(
    serve, tokens, backend_for, monkeypatch, vendor_hosts
):
    azure = serve("azure")
    monkeypatch.setenv("IDENTITY_ENDPOINT", tokens.url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-1")
    assert _answer(backend_for(azure, key=None)) == "Hello, world!"
    assert azure.last.headers["authorization"] == "Bearer token-1"
    asked = tokens.requests[0]
    assert asked.headers["x-identity-header"] == "identity-header-1"
    assert asked.body["resource"] == ["https://cognitiveservices.azure.com"]


def test_a_refused_token_is_an_auth_error_without_the_secret(serve, tokens, backend_for):
    azure = serve("azure")
    tokens.fail = 401
    principal = {"tenant_id": "t", "client_id": "c", "client_secret": KEY, "authority": tokens.url}
    backend = backend_for(azure, key=json.dumps(principal))
    with pytest.raises(LLMError) as info:
        _answer(backend)
    assert info.value.kind == "auth"
    assert "refused an access token" in str(info.value) and "Bad key" in str(info.value)
    assert KEY not in str(info.value)
    assert azure.requests == []
    health = adapter_for(backend).check(timeout=5)
    assert not health.ok and "refused an access token" in health.error


def test_a_token_endpoint_must_be_https(serve, backend_for):
    azure = serve("azure")
    principal = {"tenant_id": "t", "client_id": "c", "client_secret": "s"}
    backend = backend_for(azure, key=json.dumps({**principal, "authority": "http://example.com"}))
    with pytest.raises(LLMError) as info:
        adapter_for(backend)
    assert info.value.kind == "config" and "https://" in str(info.value)


# --- Vertex AI -------------------------------------------------------------------------


def _service_account(tokens) -> tuple[dict, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "proj-1",
        "private_key_id": "key-1",
        "private_key": pem,
        "client_email": "steward@proj-1.iam.gserviceaccount.com",
        "token_uri": tokens.url + "/token",
    }
    return info, key


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_vertex_builds_its_path_from_project_and_region(serve, backend_for):
    vertex = serve("vertex")
    assert _answer(backend_for(vertex)) == "Hello, world!"
    assert vertex.last.path == (
        "/v1/projects/proj-1/locations/europe-west4/endpoints/openapi/chat/completions"
    )
    assert vertex.last.headers["authorization"] == f"Bearer {KEY}"  # an access token as it is
    assert vertex.last.body["max_tokens"] == 8192


def test_vertex_without_an_address_calls_googles(serve, backend_for):
    vertex = serve("vertex")
    regional = adapter_for(backend_for(vertex, base_url=""))
    assert regional.base_url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj-1"
        "/locations/europe-west4/endpoints/openapi"
    )
    world = adapter_for(backend_for(vertex, name="Global", base_url="", region="global"))
    assert world.base_url.startswith("https://aiplatform.googleapis.com/v1/projects/proj-1/")


def test_vertex_signs_a_jwt_with_the_service_account_and_refreshes(
    serve, tokens, backend_for, monkeypatch
):
    vertex = serve("vertex")
    info, key = _service_account(tokens)
    backend = backend_for(vertex, key=json.dumps(info))
    assert _answer(backend) == "Hello, world!"
    assert vertex.last.headers["authorization"] == "Bearer token-1"
    asked = tokens.requests[0].body
    assert asked["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims, signature = asked["assertion"].split(".")
    key.public_key().verify(
        _unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    claims = json.loads(_unb64(claims))
    assert claims["iss"] == info["client_email"] and claims["aud"] == info["token_uri"]
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    # a token about to expire is fetched again before the next request
    monkeypatch.setattr(llm_clouds, "REFRESH_MARGIN_SECONDS", 3600)
    assert _answer(backend) == "Hello, world!"
    assert vertex.last.headers["authorization"] == "Bearer token-2"


def test_vertex_without_a_key_asks_the_metadata_server(
    serve, tokens, backend_for, monkeypatch, vendor_hosts
):
    vertex = serve("vertex")
    monkeypatch.setenv("GCE_METADATA_HOST", tokens.url.removeprefix("http://"))
    assert _answer(backend_for(vertex, key=None)) == "Hello, world!"
    assert vertex.last.headers["authorization"] == "Bearer token-1"
    asked = tokens.requests[0]
    assert asked.path == "/computeMetadata/v1/instance/service-accounts/default/token"
    assert asked.headers["metadata-flavor"] == "Google"


def test_vertex_reads_google_application_credentials(
    serve, tokens, backend_for, monkeypatch, tmp_path, vendor_hosts
):
    vertex = serve("vertex")
    info, _ = _service_account(tokens)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    assert _answer(backend_for(vertex, key=None)) == "Hello, world!"
    assert vertex.last.headers["authorization"] == "Bearer token-1"


def test_vertex_needs_its_project(serve, backend_for):
    vertex = serve("vertex")
    with pytest.raises(LLMError) as info:
        adapter_for(backend_for(vertex, project=""))
    assert info.value.kind == "config" and "project" in str(info.value)


# --- the workers' own identity ------------------------------------------------------
# With no key, Azure and Vertex AI sign in as the workers (the machine's managed identity,
# the metadata server's service account, GOOGLE_APPLICATION_CREDENTIALS). That token is
# sent only to the vendor's own hosts: a policy admin chooses the address freely.

GOOGLE_REFUSAL = (
    "the workers' own identity is sent only to Google's own addresses (*.googleapis.com): "
    "store a key for this address, or use Google's."
)
AZURE_REFUSAL = "the workers' own identity is sent only to Azure's own addresses ("


def test_vertex_without_a_key_sends_the_workers_token_nowhere_else(
    serve, tokens, backend_for, monkeypatch, tmp_path
):
    vertex = serve("vertex")  # on loopback: not one of Google's hosts here
    monkeypatch.setenv("GCE_METADATA_HOST", tokens.url.removeprefix("http://"))
    backend = backend_for(vertex, key=None)
    with pytest.raises(LLMError) as info:
        _answer(backend)
    assert info.value.kind == "config"
    assert str(info.value) == f"Fake vertex has no key, and {GOOGLE_REFUSAL}"
    # the service account the workers run with, from a file: refused the same way
    info_json, _ = _service_account(tokens)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info_json))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    with pytest.raises(LLMError):
        adapter_for(backend)
    assert tokens.requests == [] and vertex.requests == []


def test_azure_without_a_key_sends_the_managed_identity_nowhere_else(
    serve, tokens, backend_for, monkeypatch
):
    azure = serve("azure")
    monkeypatch.setenv("IDENTITY_ENDPOINT", tokens.url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-1")
    backend = backend_for(azure, key=None)
    with pytest.raises(LLMError) as info:
        _answer(backend)
    assert info.value.kind == "config"
    assert str(info.value).startswith(f"Fake azure has no key, and {AZURE_REFUSAL}")
    assert "*.openai.azure.com" in str(info.value)
    assert tokens.requests == [] and azure.requests == []


def test_a_key_of_its_own_goes_to_any_address(serve, tokens, backend_for):
    """A stored key (an access token, a service account's or an Entra principal's key) was
    entered for this address: moving the backend removes it (governance.services)."""
    vertex, azure = serve("vertex"), serve("azure")
    assert _answer(backend_for(vertex)) == "Hello, world!"
    info, _ = _service_account(tokens)
    assert _answer(backend_for(vertex, name="SA", key=json.dumps(info))) == "Hello, world!"
    assert _answer(backend_for(azure)) == "Hello, world!"


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("vertex", ""),  # Google's regional or global endpoint
        ("vertex", "https://europe-west4-aiplatform.googleapis.com"),
        ("vertex", "https://aiplatform.googleapis.com/"),
        ("vertex", "https://europe-west4-aiplatform-steward.p.googleapis.com"),  # PSC
        ("vertex", "https://EUROPE-WEST4-aiplatform.googleapis.com:443"),
        ("azure", "https://contoso.openai.azure.com"),
        ("azure", "https://contoso.openai.azure.com/openai/v1"),
        ("azure", "https://contoso.cognitiveservices.azure.com"),
        ("azure", "https://contoso.services.ai.azure.com"),
        ("azure", "https://contoso.openai.azure.us"),
        ("azure", "https://contoso.openai.azure.cn"),
    ],
)
def test_the_vendors_own_hosts_may_have_the_workers_identity(kind, address):
    assert llm_clouds.own_identity_problem(kind, address) is None


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("vertex", "https://attacker.example"),
        ("vertex", "http://europe-west4-aiplatform.googleapis.com"),  # in clear text
        ("vertex", "https://aiplatform.googleapis.com.attacker.example"),
        ("vertex", "https://attacker.example/aiplatform.googleapis.com"),
        ("vertex", "https://attacker.example?.googleapis.com"),
        ("vertex", "https://attacker.example#.googleapis.com"),
        ("vertex", "https://aiplatform.googleapis.com@attacker.example"),
        ("vertex", "https://evil-googleapis.com"),
        ("vertex", "https://attacker.example\\.googleapis.com"),
        ("vertex", "http://127.0.0.1:8080"),
        ("vertex", "https://contoso.openai.azure.com"),  # Microsoft's, not Google's
        ("azure", "https://attacker.example"),
        ("azure", "http://contoso.openai.azure.com"),
        ("azure", "https://contoso.openai.azure.com.attacker.example"),
        ("azure", "https://contoso.azurewebsites.net"),  # anyone's web app
        ("azure", "https://europe-west4-aiplatform.googleapis.com"),
    ],
)
def test_any_other_address_may_not(kind, address):
    problem = llm_clouds.own_identity_problem(kind, address)
    assert problem and "store a key for this address" in problem


# --- Mistral ---------------------------------------------------------------------------


def test_mistral_is_sent_only_the_parameters_it_accepts(serve, backend_for):
    mistral = serve("mistral")
    adapter = adapter_for(backend_for(mistral))
    assert "".join(adapter.stream(MESSAGES, timeout=5)) == "Hello, world!"
    assert set(mistral.last.body) == {"model", "messages", "stream", "max_tokens"}
    assert adapter.usage == Usage(12, 4)  # from the last chunk: no stream_options needed


def test_a_parameter_mistral_refuses_is_named_in_the_error(serve, backend_for, monkeypatch):
    mistral = serve("mistral")
    allowed = {"stream_options": "stream_options"}  # as if Mistral were sent OpenAI's
    monkeypatch.setattr(llm_clouds.MistralAdapter, "parameters", allowed)
    with pytest.raises(LLMError) as info:
        _answer(backend_for(mistral))
    assert info.value.status == 422
    assert "HTTP 422: stream_options: Extra inputs are not permitted" in str(info.value)


def test_mistral_lives_in_the_eu_and_needs_a_key(serve, backend_for):
    mistral = serve("mistral")
    assert adapter_for(backend_for(mistral, base_url="")).base_url == "https://api.mistral.ai/v1"
    with pytest.raises(LLMError) as info:
        adapter_for(backend_for(mistral, name="No key", key=None))
    assert info.value.kind == "config"
