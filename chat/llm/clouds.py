"""The OpenAI-compatible cloud services and their quirks: Azure OpenAI, Vertex AI, Mistral.

Each speaks ``/chat/completions`` through the ``openai`` client, but differs in
where it lives, how it is signed in to, and which parameters it accepts
(:attr:`~chat.llm.OpenAIAdapter.parameters`). Azure and Vertex AI can sign in
with a token that expires; :class:`AccessToken` fetches it, keeps it, and
fetches a new one shortly before it runs out (the client asks before every
request). With no key they sign in as the workers themselves, and that token goes only
to the vendor's own hosts (:func:`own_identity_problem`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from urllib.parse import urlsplit

import httpx
import openai
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from chat.llm.adapter import ANSWER_MAX_TOKENS, Adapter, LLMError, no_redirects
from chat.llm.openai_adapter import OpenAIAdapter

#: A token is fetched again this long before it expires.
REFRESH_MARGIN_SECONDS = 300
TOKEN_TIMEOUT_SECONDS = 10
GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
AZURE_AUTHORITY = "https://login.microsoftonline.com"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Where the workers' own identity (a backend with no key) may be sent: the vendor's own
#: domains, a host being one of them or under one, over https. A policy admin chooses the
#: address; these the vendor alone answers. Tests add their loopback fakes' host here.
GOOGLE_DOMAINS = ("googleapis.com",)  # regional endpoints, Private Service Connect's *.p.
AZURE_DOMAINS = (
    "openai.azure.com",
    "cognitiveservices.azure.com",
    "services.ai.azure.com",
    "openai.azure.us",  # Azure Government
    "openai.azure.cn",  # Azure operated by 21Vianet
)
HOST_NAME = re.compile(r"[a-z0-9.-]+")


class AzureAdapter(OpenAIAdapter):
    """Azure OpenAI. The backend's model is the deployment's name.

    With an api-version, the classic endpoint (the deployment in the path);
    without, the ``/openai/v1`` path, which needs none. The key is an API key,
    or an Entra service principal as JSON (``tenant_id``, ``client_id``,
    ``client_secret``); with no key, the managed identity of the machine.
    """

    parameters = {**OpenAIAdapter.parameters, "max_tokens": "max_completion_tokens"}
    default_max_tokens = ANSWER_MAX_TOKENS
    streams_async = False  # its own clients (Entra tokens, the classic endpoint): threads only

    def __init__(self, backend, key):
        Adapter.__init__(self, backend, key)  # not OpenAIAdapter's: its rule is api.openai.com's
        if not backend.base_url:
            raise LLMError(f"{self.name} needs its endpoint address.", kind="config")
        if not key:
            _refuse_own_identity_elsewhere(self.name, "azure", backend.base_url)
        self.api_version = backend.api_version
        self.client_scope = (self.api_version,)
        root = self.base_url.rstrip("/")
        if not self.api_version and not root.endswith("/openai/v1"):
            self.base_url = root.removesuffix("/openai") + "/openai/v1"
        self._token = _entra_token(self.name, key)

    def _client(self, timeout: float) -> openai.OpenAI:
        common = {
            "timeout": timeout,
            "max_retries": 0,
            "http_client": no_redirects(openai, timeout),
        }
        if self.api_version:
            auth = {"api_key": self._key}
            if self._token:
                auth = {"azure_ad_token_provider": self._token}
            return openai.AzureOpenAI(
                azure_endpoint=self.base_url, api_version=self.api_version, **auth, **common
            )
        if self._token:
            return openai.OpenAI(base_url=self.base_url, api_key=self._token, **common)
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=self._key,
            default_headers={"api-key": self._key},  # Azure's own header; Bearer works too
            **common,
        )


class VertexAdapter(OpenAIAdapter):
    """Gemini on Vertex AI, through its OpenAI-compatible endpoint.

    The project and region (a location such as ``europe-west4``, or ``global``)
    are the backend's. The key is a service account's JSON key, or an access
    token as it is (it cannot be refreshed); with no key, the workers' own
    Google identity: ``GOOGLE_APPLICATION_CREDENTIALS``, else the metadata
    server of the machine they run on.
    """

    default_max_tokens = ANSWER_MAX_TOKENS
    streams_async = False  # a client of its own (Google's access token): threads only

    def __init__(self, backend, key):
        Adapter.__init__(self, backend, key)
        region = backend.region or "global"
        if not backend.project:
            raise LLMError(f"{self.name} needs its Google Cloud project.", kind="config")
        host = "aiplatform.googleapis.com"
        if region != "global":
            host = f"{region}-{host}"
        root = backend.base_url or f"https://{host}"
        if not key:  # the address called, whatever made it (the form checks the region)
            _refuse_own_identity_elsewhere(self.name, "vertex", root)
        self.base_url = (
            f"{root.rstrip('/')}/v1/projects/{backend.project}/locations/{region}/endpoints/openapi"
        )
        self._token = _google_token(self.name, key)

    def _client(self, timeout: float) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=self._token,
            timeout=timeout,
            max_retries=0,
            http_client=no_redirects(openai, timeout),
        )

    def _check(self, timeout):
        # The endpoint lists no models: a one-token answer proves access to this one.
        with self._client(timeout) as client:
            client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": "ping"}], max_tokens=1
            )


class MistralAdapter(OpenAIAdapter):
    """Mistral's API (hosted in the EU). It refuses unknown parameters with HTTP 422,
    ``stream_options`` among them; the usage comes with the last chunk anyway."""

    default_url = "https://api.mistral.ai/v1"
    needs_key = True
    parameters = {
        **{name: name for name in ("temperature", "top_p", "max_tokens", "stop")},
        **{name: name for name in ("frequency_penalty", "presence_penalty")},
        "seed": "random_seed",
    }
    default_max_tokens = ANSWER_MAX_TOKENS

    def __init__(self, backend, key):
        Adapter.__init__(self, backend, key)  # a key always, wherever it lives


# --- the workers' own identity ---------------------------------------------------------


def own_identity_problem(kind: str, base_url: str) -> str | None:
    """Why a ``kind`` ("azure", "vertex") backend at ``base_url`` may not be sent the
    workers' own identity (None if it may: the vendor's own host, or no address at all).

    With no key, Azure signs in with the machine's managed identity and Vertex AI with the
    workers' Google identity, whose token can do whatever their service account can; the
    token goes with every call to the backend's address, which a policy admin chooses.
    """
    vendor, domains, default = {
        "azure": ("Azure", AZURE_DOMAINS, "the resource's own (NAME.openai.azure.com)"),
        "vertex": ("Google", GOOGLE_DOMAINS, "Google's"),
    }[kind]
    if not base_url or _under(base_url, domains):
        return None
    hosts = ", ".join(f"*.{domain}" for domain in domains)
    return (
        f"The workers' own identity is sent only to {vendor}'s own addresses ({hosts}): "
        f"store a key for this address, or use {default}."
    )


def _under(url: str, domains: tuple[str, ...]) -> bool:
    """Whether ``url`` is https to one of ``domains`` or to a host under one (plain http
    only on this machine, for tests). The host must be a plain name: one that another
    parser than :func:`urlsplit` might read otherwise (a backslash in it, say) is not."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" and not (parts.scheme == "http" and host in LOOPBACK):
        return False
    if not HOST_NAME.fullmatch(host) and host not in LOOPBACK:
        return False
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _refuse_own_identity_elsewhere(name: str, kind: str, base_url: str) -> None:
    """Raise before any token is fetched (or a credentials file read): the form refuses
    such a backend, but one saved before may be called."""
    if problem := own_identity_problem(kind, base_url):
        raise LLMError(f"{name} has no key, and {problem[0].lower()}{problem[1:]}", kind="config")


# --- tokens -------------------------------------------------------------------------------


class AccessToken:
    """A bearer token, fetched when first needed and again shortly before it expires.

    Thread-safe; the ``openai`` client calls it before every request. A failure
    to get one is an :class:`LLMError` of kind ``auth`` (or ``connection``).
    """

    def __init__(self, name: str, where: str):
        self.name = name
        self.where = where
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at = 0.0

    def __call__(self) -> str:
        with self._lock:
            if time.time() >= self._expires_at - REFRESH_MARGIN_SECONDS:
                self._token, lifetime = self._fetch()
                self._expires_at = time.time() + lifetime
            return self._token

    def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError

    def _ask(self, method: str, url: str, **kwargs) -> tuple[str, float]:
        """One call to a token endpoint; the token and how many seconds it lives."""
        host = urlsplit(url).hostname or url
        try:
            response = httpx.request(
                method, url, timeout=TOKEN_TIMEOUT_SECONDS, follow_redirects=False, **kwargs
            )
        except httpx.TransportError:
            raise LLMError(
                f"{self.name} could not reach {host} for an access token.", kind="connection"
            ) from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200 or not data.get("access_token"):
            said = data.get("error_description") or data.get("error") or ""
            said = " ".join(str(said).split())[:200]
            raise LLMError(
                f"{self.name} was refused an access token by {host} "
                f"(HTTP {response.status_code}){': ' + said if said else '.'}",
                kind="auth",
                status=response.status_code,
            )
        lifetime = float(data.get("expires_in") or 0) or _lifetime_until(data.get("expires_on"))
        return data["access_token"], lifetime


class StaticToken(AccessToken):
    """A token given as it is: used until it is refused."""

    def __init__(self, name: str, token: str):
        super().__init__(name, "")
        self._token = token
        self._expires_at = float("inf")


class GoogleServiceAccountToken(AccessToken):
    """A service account's key signs a JWT that Google's token endpoint exchanges."""

    def __init__(self, name: str, info: dict):
        super().__init__(name, _token_uri(name, info.get("token_uri") or GOOGLE_TOKEN_URI))
        try:
            self.email = info["client_email"]
            self.key_id = info.get("private_key_id", "")
            self.key = serialization.load_pem_private_key(info["private_key"].encode(), None)
        except (KeyError, ValueError, TypeError, AttributeError):
            raise LLMError(
                f"The service account key of {name} is incomplete or its private key unreadable.",
                kind="config",
            ) from None

    def _fetch(self):
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.key_id}
        claims = {"iss": self.email, "scope": GOOGLE_SCOPE, "aud": self.where}
        claims.update(iat=now, exp=now + 3600)
        signing_input = f"{_b64(header)}.{_b64(claims)}".encode()
        signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        assertion = signing_input.decode() + "." + _b64url(signature)
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
        return self._ask("POST", self.where, data={"grant_type": grant, "assertion": assertion})


class GoogleUserToken(AccessToken):
    """``gcloud auth application-default login``'s refresh token (a developer's machine)."""

    def __init__(self, name: str, info: dict):
        super().__init__(name, _token_uri(name, info.get("token_uri") or GOOGLE_TOKEN_URI))
        self.form = {
            "grant_type": "refresh_token",
            "client_id": info.get("client_id", ""),
            "client_secret": info.get("client_secret", ""),
            "refresh_token": info.get("refresh_token", ""),
        }

    def _fetch(self):
        return self._ask("POST", self.where, data=self.form)


class GoogleMetadataToken(AccessToken):
    """The token of the machine's service account, from the metadata server (GCE, GKE, Run)."""

    def __init__(self, name: str):
        host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
        path = "/computeMetadata/v1/instance/service-accounts/default/token"
        super().__init__(name, f"http://{host}{path}")

    def _fetch(self):
        return self._ask("GET", self.where, headers={"Metadata-Flavor": "Google"})


class EntraToken(AccessToken):
    """An Entra service principal's token (client credentials)."""

    def __init__(self, name: str, info: dict):
        authority = _token_uri(name, info.get("authority") or AZURE_AUTHORITY).rstrip("/")
        super().__init__(name, f"{authority}/{info['tenant_id']}/oauth2/v2.0/token")
        self.form = {
            "grant_type": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "scope": AZURE_SCOPE,
        }

    def _fetch(self):
        return self._ask("POST", self.where, data=self.form)


class ManagedIdentityToken(AccessToken):
    """The machine's managed identity: App Service / Container Apps' endpoint, else IMDS."""

    def __init__(self, name: str):
        endpoint = os.environ.get("IDENTITY_ENDPOINT")
        resource = AZURE_SCOPE.removesuffix("/.default")
        if endpoint:
            self.params = {"api-version": "2019-08-01", "resource": resource}
            self.headers = {"X-IDENTITY-HEADER": os.environ.get("IDENTITY_HEADER", "")}
        else:
            endpoint = "http://169.254.169.254/metadata/identity/oauth2/token"
            self.params = {"api-version": "2018-02-01", "resource": resource}
            self.headers = {"Metadata": "true"}
        super().__init__(name, endpoint)

    def _fetch(self):
        return self._ask("GET", self.where, params=self.params, headers=self.headers)


def _entra_token(name: str, key: str) -> AccessToken | None:
    """None for an API key; a token source for a service principal, or no key at all."""
    if not key:
        return ManagedIdentityToken(name)
    info = _json_object(key)
    if info is None:
        return None
    if not all(info.get(k) for k in ("tenant_id", "client_id", "client_secret")):
        raise LLMError(
            f"The Entra service principal of {name} needs tenant_id, client_id and client_secret.",
            kind="config",
        )
    return EntraToken(name, info)


def _google_token(name: str, key: str) -> AccessToken:
    if not key:
        path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
        if not path:
            return GoogleMetadataToken(name)
        try:
            with open(path, encoding="utf-8") as file:
                key = file.read()
        except OSError:
            raise LLMError(
                f"{name}: GOOGLE_APPLICATION_CREDENTIALS names a file that cannot be read.",
                kind="config",
            ) from None
    info = _json_object(key)
    if info is None:
        return StaticToken(name, key)
    if info.get("type") == "authorized_user":
        return GoogleUserToken(name, info)
    return GoogleServiceAccountToken(name, info)


def _json_object(text: str) -> dict | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _token_uri(name: str, uri: str) -> str:
    """A token endpoint must be https (plain http only on this machine, for tests)."""
    parts = urlsplit(uri)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return uri
    raise LLMError(f"The token endpoint of {name} must be an https:// address.", kind="config")


def _lifetime_until(expires_on) -> float:
    try:
        return max(float(expires_on) - time.time(), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _b64(data: dict) -> str:
    return _b64url(json.dumps(data, separators=(",", ":")).encode())


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
