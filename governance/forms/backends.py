"""A model backend's settings, and the checks of its address and key that the console,
the REST API and a policy file share."""

import re
import unicodedata
from urllib.parse import parse_qs, urlsplit

from django import forms
from django.conf import settings
from django.core.validators import URLValidator

from config.env import address_end_problem, backend_host_problem, backend_key_variable_problem
from governance.forms.common import _name_empty_choice
from governance.models import Backend, HostingClass
from governance.services import KEY_DESTINATION_FIELDS, key_destination_changes

CREDENTIAL_QUERY_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "signature")
#: The kinds whose service has no usual address: the backend must name one.
NEEDS_ADDRESS = (
    Backend.Kind.OLLAMA, Backend.Kind.OPENAI, Backend.Kind.ANTHROPIC, Backend.Kind.AZURE,
)  # fmt: skip
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
GOOGLE_LOCATION = re.compile(r"^(global|[a-z]+(-[a-z]+)*\d*)$")
#: A key that goes into an HTTP header as it is: printable ASCII, no spaces.
HEADER_KEY = re.compile(r"^[!-~]+$")
AZURE_API_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2}(-preview)?|preview|latest)$")
#: What the form's fields mean for each kind, shown when that kind is chosen.
KIND_NOTES = {
    Backend.Kind.BUILTIN: "Runs inside Steward's local worker, no server needed. Model: empty "
    "(or smollm2) for the packaged SmolLM2-135M-Instruct, or the absolute path of a GGUF file "
    "on the worker machines. No address, no key. Test connection loads the file here.",
    Backend.Kind.OLLAMA: "Address: the Ollama server (http://gpu-box:11434). Model: a pulled "
    "model (llama3.2). No key, unless a proxy in front of it asks for one.",
    Backend.Kind.OPENAI: "Address: the API root, ending in /v1 (https://api.openai.com/v1, or "
    "vLLM, llama.cpp, LiteLLM). Key: required by api.openai.com; a server of your own may need "
    "none.",
    Backend.Kind.ANTHROPIC: "Address: https://api.anthropic.com. Model: claude-sonnet-4-5, for "
    "example. Key: required.",
    Backend.Kind.BEDROCK: "Region: the AWS region that serves the model (eu-central-1); empty: "
    "the workers' AWS_DEFAULT_REGION. Model: a model id or inference profile "
    "(eu.anthropic.claude-sonnet-4-5-20250929-v1:0). Key: ACCESS_KEY_ID:SECRET_ACCESS_KEY "
    "(:SESSION_TOKEN), or empty for the workers' own AWS credentials (environment, profile, "
    "role). Address: only for a VPC endpoint.",
    Backend.Kind.AZURE: "Address: the resource's endpoint (https://NAME.openai.azure.com). "
    "Model: the deployment's name. API version: for a classic endpoint (2024-10-21); empty for "
    'the /openai/v1 path. Key: an API key, or an Entra service principal as JSON {"tenant_id": '
    '…, "client_id": …, "client_secret": …}; empty for the machine\'s managed identity (only at '
    "Azure's own addresses: *.openai.azure.com, *.cognitiveservices.azure.com, "
    "*.services.ai.azure.com, *.openai.azure.us, *.openai.azure.cn).",
    Backend.Kind.VERTEX: "Project and region: the Google Cloud project and the Vertex AI "
    "location (europe-west4, or global). Model: google/gemini-2.5-flash, for example. Key: a "
    "service account's JSON key; empty for the workers' Google identity "
    "(GOOGLE_APPLICATION_CREDENTIALS, or the metadata server), sent only to Google's own "
    "addresses (*.googleapis.com). Address: only for a private endpoint.",
    Backend.Kind.MISTRAL: "Address: empty for Mistral's API in the EU (https://api.mistral.ai/v1). "
    "Model: mistral-small-latest, for example. Key: required.",
}


def credential_env_problem(name: str) -> str | None:
    """Why ``name`` cannot be a backend's key variable, if it cannot (the console, the REST
    API and a policy file all ask here)."""
    if not name:
        return None
    return backend_key_variable_problem(name, settings.STEWARD_BACKEND_KEY_VARIABLES)


class BackendAddressValidator(URLValidator):
    """Django's check of an http(s) address, also taking a host name of one label: an
    on-premise server is often reached so (http://gpu-box:11434, or a container
    network's http://ollama:11434), and Django's wants a top-level domain."""

    host_re = (
        "(" + URLValidator.hostname_re + URLValidator.domain_re
        + "(?:" + URLValidator.tld_re + ")?|localhost)"
    )  # fmt: skip
    regex = re.compile(
        r"^(?:[a-z0-9.+-]*)://"
        r"(?:[^\s:@/]+(?::[^\s:@/]*)?@)?"
        r"(?:" + URLValidator.ipv4_re + "|" + URLValidator.ipv6_re + "|" + host_re + ")"
        r"(?::[0-9]{1,5})?"
        r"(?:[/?#][^\s]*)?"
        r"\Z",
        re.IGNORECASE,
    )
    schemes = ["http", "https"]


MAX_BASE_URL_LENGTH = Backend._meta.get_field("base_url").max_length


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a backend's address, if it cannot (the console, the REST API and
    a policy file all ask here). The address is stored, shown and exported in clear, so it
    may not carry a credential."""
    if len(url) > MAX_BASE_URL_LENGTH:
        return f"An address has at most {MAX_BASE_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [ of an IPv6 address, say
        return address_credential(url) or "This is not a valid web address."
    if parts.scheme not in ("http", "https"):
        return "Use an http:// or https:// address."
    if credential := address_credential(url):
        return credential
    if problem := address_end_problem(url):
        return problem
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = 0
    if port == 0:
        return "The port must be a number from 1 to 65535."
    try:
        BackendAddressValidator()(url)
    except forms.ValidationError as exc:
        return exc.messages[0]
    return backend_host_problem(url, settings.STEWARD_BACKEND_HOSTS)


def address_credential(url: str) -> str | None:
    """The refusal of an address that carries a credential (user:password@, ?api_key=)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed: refused as such, but never echoed back with a password
        parts = urlsplit(url.replace("[", "").replace("]", ""))
    if parts.username or parts.password or "@" in parts.netloc:
        return (
            "Remove the user name and password from the address: put the key in the "
            "API key field, where it is stored sealed."
        )
    for name in parse_qs(parts.query, keep_blank_values=True):
        if any(word in name.lower() for word in CREDENTIAL_QUERY_WORDS):
            return (
                f"The address carries a credential ({name}=…): put the key in the API key "
                "field instead."
            )
    return None


class BackendForm(forms.ModelForm):
    """A backend's settings. The credential is write-only: never rendered back."""

    credential = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored sealed with the master key and never shown again.",
    )
    remove_credential = forms.BooleanField(
        label="Remove the stored key",
        required=False,
        help_text="To read the key from an environment variable instead, or, for Bedrock, "
        "Azure and Vertex AI, to use the workers' own identity (Azure's and Vertex AI's only at "
        "the vendor's own address).",
    )

    # A CharField: our checks speak first, then Django's URL validator.
    base_url = forms.CharField(
        label="Base URL",
        required=False,
        max_length=300,
        widget=forms.URLInput(attrs={"placeholder": "https://api.example.com/v1"}),
    )
    hosting_class = forms.ChoiceField(
        label="Hosting class",
        choices=[("", "The kind's usual"), *HostingClass.choices],
        required=False,
        help_text="Usual: private cloud for Bedrock, Azure and Vertex AI; on-premise for Ollama; "
        "external API for the others.",
    )
    kind_notes = KIND_NOTES
    #: Set when an error re-renders the form without the key that was typed.
    credential_forgotten = False
    #: The variable a typed key replaced, if it replaced one.
    replaced_variable = ""

    class Meta:
        model = Backend
        fields = [f for f in Backend.POLICY_FIELDS if f != "enabled"]
        labels = {
            "base_url": "Base URL",
            "api_version": "API version",
            "context_tokens": "Context budget (tokens)",
            "credential_env": "Or: environment variable holding the key",
            "trains_on_inputs": "The provider trains on our inputs",
            "consumer_product": "A consumer product (not a business API)",
            "provider_retention_days": "Provider retention (days)",
            "dpa_signed": "A data processing agreement is signed",
            "dpa_expires_on": "DPA expires on",
            "processor": "Processor",
            "transfer_safeguard": "Transfer safeguard",
        }
        widgets = {
            "dpa_expires_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }
        # Help, not placeholders: a grey "OpenAI Ireland Ltd" in every empty box read as a
        # recorded value, on on-premise backends too.
        help_texts = {
            "credential_env": "Name of the environment variable holding the key. A key typed "
            "in “API key” replaces it.",
            "processor": "The company that runs the model (GDPR Art. 30), e.g. OpenAI Ireland "
            "Ltd. Empty: we run it ourselves.",
            "transfer_safeguard": "What covers sending data outside the EU/EEA, e.g. standard "
            "contractual clauses (2021/914), module 2. Empty: no such transfer.",
        }
        error_messages = {
            "name": {
                "unique": "A backend with this name already exists.",
                "required": "Give the backend a name.",
            },
            "kind": {"required": "Choose the kind of backend."},
            "model": {
                "required": "Give the model's name as the provider spells it, such as llama3.2."
            },
            "context_tokens": dict.fromkeys(
                ("invalid", "min_value", "max_value"),
                "Give a whole number of tokens, such as 32000, or leave it empty for the "
                "kind's usual.",
            ),
            "provider_retention_days": dict.fromkeys(
                ("invalid", "min_value", "max_value"),
                "Give a whole number of days (0: the provider keeps nothing), or leave it "
                "empty if you do not know.",
            ),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.credential_encrypted:
            self.fields["credential"].help_text += (
                " Leave empty to keep the stored key: it is removed if the kind, the address or "
                "(Bedrock, Vertex AI) the region changes, as it goes only where it was entered for."
            )
        kind = self.data.get("kind") if self.is_bound else self.instance.kind
        # The built-in model needs no name: empty means its packaged default.
        self.fields["model"].required = kind != Backend.Kind.BUILTIN
        _name_empty_choice(self.fields["kind"], "Choose the kind of backend")

    def full_clean(self) -> None:
        typed = bool(self.data.get("credential"))
        super().full_clean()
        self.credential_forgotten = typed and bool(self.errors)

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"].strip()
        if not url:
            return url
        if problem := base_url_problem(url):
            if address_credential(url):
                self._forget("base_url")
            if self.data.get("kind") != Backend.Kind.BUILTIN:  # it has none: cleared below
                raise forms.ValidationError(problem)
        return url

    def _get_validation_exclusions(self) -> set[str]:
        # The model's URLField wants a top-level domain; clean_base_url has checked the address.
        return {*super()._get_validation_exclusions(), "base_url"}

    def _forget(self, name: str) -> None:
        """Don't echo a value holding a secret back into the re-rendered form."""
        self.data = self.data.copy()
        self.data[name] = ""

    def clean_credential(self) -> str:
        """A key sent as it is goes into an HTTP header, which carries no accents nor spaces
        (a pasted key with them fails every call); a JSON key (a service account, an Entra
        service principal) is read, not sent, and may span lines."""
        key = self.cleaned_data["credential"]
        if key and not key.startswith("{") and not HEADER_KEY.match(key):
            self._forget("credential")
            raise forms.ValidationError(
                "An API key is one run of plain characters (letters, digits and signs such "
                "as - _ . :), with no spaces, line breaks or accents: check what was pasted."
            )
        return key

    def clean_credential_env(self) -> str:
        name = self.cleaned_data["credential_env"].strip()
        if str(self.data.get("credential") or "").strip():
            return name  # a typed key replaces the variable (_clean_key_source): never read
        if problem := credential_env_problem(name):
            raise forms.ValidationError(problem)
        return name

    def clean_region(self) -> str:
        return self.cleaned_data["region"].strip().lower()

    def clean_processor(self) -> str:
        return _one_line(self.cleaned_data["processor"])

    def clean_transfer_safeguard(self) -> str:
        return _one_line(self.cleaned_data["transfer_safeguard"])

    def clean_kind_fields(self, data: dict) -> None:
        """The fields only some kinds use: required where needed, cleared where not."""
        kind = data.get("kind")
        if kind and not data.get("hosting_class"):
            data["hosting_class"] = Backend.USUAL_HOSTING.get(kind, HostingClass.EXTERNAL_API)
        region, credential = data.get("region", ""), data.get("credential", "")
        if kind == Backend.Kind.BUILTIN:
            # It runs in Steward's worker: an address or a variable left from another kind is
            # never used, and a key typed for it was stored sealed, and shown as "a key is
            # stored", for nothing.
            data["base_url"] = data["credential_env"] = ""
            if credential:
                self._forget("credential")
                self.add_error(
                    "credential",
                    "The built-in model runs inside Steward and takes no key: leave this empty.",
                )
        if kind != Backend.Kind.AZURE:
            data["api_version"] = ""
        elif data.get("api_version") and not AZURE_API_VERSION.match(data["api_version"]):
            self.add_error("api_version", "An api-version looks like 2024-10-21.")
        if kind != Backend.Kind.VERTEX:
            data["project"] = ""
        elif not data.get("project"):
            self.add_error("project", "Vertex AI needs the Google Cloud project.")
        if kind == Backend.Kind.VERTEX and not GOOGLE_LOCATION.match(region):
            self.add_error("region", "Name the Vertex AI location: europe-west4, or global.")
        if kind == Backend.Kind.BEDROCK and region and not AWS_REGION.match(region):
            self.add_error("region", "Name an AWS region, such as eu-central-1.")
        if kind == Backend.Kind.BEDROCK and credential and credential.count(":") not in (1, 2):
            self._forget("credential")
            self.add_error(
                "credential", "Give ACCESS_KEY_ID:SECRET_ACCESS_KEY (and :SESSION_TOKEN)."
            )

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        self.clean_kind_fields(data)
        self._clean_key_source(data)
        if kind in NEEDS_ADDRESS and not data.get("base_url"):
            if "base_url" not in self.errors:
                self.add_error("base_url", "This kind of backend needs an address.")
        self._clean_own_identity(data)
        if kind == Backend.Kind.BUILTIN:
            self._clean_builtin_model(data)
        if data.get("dpa_expires_on") and not data.get("dpa_signed"):
            # Named as the box is labelled: "DPA signed" named no box on the page.
            self.add_error(
                "dpa_expires_on",
                "An expiry date is for a signed agreement: tick “A data processing agreement "
                "is signed”, or leave the date empty.",
            )
        return data

    def _clean_key_source(self, data: dict) -> None:
        """One source for the key: a stored key is used before the variable (chat.llm). A typed
        key replaces the variable, the one named beside it or the one the backend had (the
        page's script empties the field as the key is typed): ``replaced_variable``, for the
        message that says so."""
        credential, removing = data.get("credential"), data.get("remove_credential")
        stored = self._keeps_stored_key(data)
        if credential and removing:
            self._forget("credential")
            self.add_error("credential", "Type a new key or remove the stored one, not both.")
        elif credential:
            # The typed key wins: the variable's field comes filled in with the backend's
            # (OPENAI_API_KEY), and refusing the pair threw away the key just pasted.
            self.replaced_variable = data.get("credential_env") or self.instance.credential_env
            data["credential_env"] = ""
        elif data.get("credential_env") and stored:
            self.add_error(
                "credential_env",
                "This backend has a stored key, which is used first: tick “Remove the stored "
                "key” to use the variable instead.",
            )

    def _keeps_stored_key(self, data: dict) -> bool:
        """Whether the backend still has its stored key after this save: not removed, and not
        moved elsewhere (:func:`~governance.services.save_backend` removes it then).

        The instance is the backend as stored (as a policy file's import has already moved
        it, and removed the key if it must).
        """
        backend = self.instance
        if not backend.credential_encrypted or data.get("remove_credential"):
            return False
        before = {name: getattr(backend, name) for name in KEY_DESTINATION_FIELDS}
        after = {name: data.get(name) or "" for name in KEY_DESTINATION_FIELDS}
        return not key_destination_changes(before, after)

    def _clean_own_identity(self, data: dict) -> None:
        """Azure and Vertex AI with no key sign in as the workers, whose token goes only to the
        vendor's own hosts: say so now, rather than at the first call (which refuses too)."""
        kind = data.get("kind")
        if kind not in (Backend.Kind.AZURE, Backend.Kind.VERTEX) or "base_url" in self.errors:
            return
        if data.get("credential") or data.get("credential_env") or self._keeps_stored_key(data):
            return
        from chat.llm.clouds import own_identity_problem  # the vendors' clients: when needed

        if problem := own_identity_problem(kind, data.get("base_url") or ""):
            self.add_error("base_url", problem)

    def _clean_builtin_model(self, data: dict) -> None:
        """A short name means the packaged file (stored as ``smollm2``); else a GGUF path."""
        from chat.llm.builtin import is_packaged  # the model clients load only when needed

        model = (data.get("model") or "").strip()
        if is_packaged(model):
            data["model"] = "smollm2"
        elif not model.startswith("/") or not model.lower().endswith(".gguf"):
            self.add_error(
                "model",
                "Leave empty for the packaged SmolLM2, or give the absolute path of a .gguf "
                "file (e.g. /srv/models/qwen2.5-1.5b-instruct-q4_k_m.gguf).",
            )
        else:
            data["model"] = model

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


def _one_line(text: str) -> str:
    """Text shown as it is in the records of processing and in access copies: one line of
    plain characters (no line breaks, tabs, other control characters, nor invisible format
    characters such as a right-to-left override, which would reorder what is shown)."""
    text = text.strip()
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in text):
        raise forms.ValidationError("Give one line of plain text, without line breaks or tabs.")
    return text
