"""Input cleaning for the governance pages: accounts, the simulator and the policy console."""

import re
import unicodedata
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import URLValidator
from django.db.models import Q
from django.utils import timezone

from config.env import address_end_problem, backend_host_problem, backend_key_variable_problem
from governance.detection import (
    PatternError,
    TermsError,
    check_pattern,
    read_terms,
)
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    HostingClass,
    ProtectedTermList,
    User,
)
from governance.policy import SECRET_TYPES, default_action, entity_phrase, unmet_requirements
from governance.policy import Action as PolicyAction
from governance.roles import Role
from governance.services import (
    KEY_DESTINATION_FIELDS,
    clearance_problem,
    key_destination_changes,
)
from governance.simulation import MAX_MESSAGE_CHARS

ROLE_HELP = {
    Role.STAFF: "Chats with models in the categories they are cleared for.",
    Role.POLICY_ADMIN: "Manages categories, backends, clearances, rules, users and roles.",
    Role.PRIVACY_OFFICER: "Runs retention, legal holds and data-subject requests.",
    Role.AUDITOR: "Reads and exports the audit trail. Read-only everywhere.",
}


class RolesField(forms.TypedMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=Role.choices, coerce=Role, required=False, **kwargs)


class InviteForm(forms.Form):
    email = forms.EmailField(label="Work email", max_length=254)
    full_name = forms.CharField(label="Full name", max_length=150, required=False)
    roles = RolesField(initial=[Role.STAFF])

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("Someone with this address already has an account.")
        return email

    def clean_roles(self) -> list[Role]:
        roles = self.cleaned_data["roles"]
        if not roles:
            raise forms.ValidationError("Choose at least one role.")
        return roles


class RolesForm(forms.Form):
    roles = RolesField()


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID's text (a public id typed or sent)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def find_person(text: str, *, active_only: bool = True) -> User | None:
    """The person a public id or an email address (in any case) names, if any."""
    people = User.objects.filter(is_active=True) if active_only else User.objects.all()
    if is_uuid(text):
        return people.filter(public_id=text).first()
    return people.filter(email__iexact=text).first()


class UnknownParty(forms.ValidationError):
    """No group and no person is named by what was typed or sent; the message says so."""


def resolve_party(text: str, *, active_only: bool = True) -> Group | User:
    """The role group or person a clearance's party names (raises :class:`UnknownParty`).

    ``group:<name>`` and ``user:<public id>`` are what the revoke buttons and the REST API
    send, and are exact; a person types a group's name or an email address, in any case.
    Withdrawing passes ``active_only=False``: a deactivated person keeps their clearances.
    """
    text = text.strip()
    if not text:
        raise UnknownParty("Give a group's name or a person's email address.")
    kind, _, who = text.partition(":")
    if kind == "group":
        found = Group.objects.filter(name=who).first()
    elif kind == "user":
        found = find_person(who, active_only=active_only) if is_uuid(who) else None
    elif "@" in text:
        found = find_person(text, active_only=active_only)
    else:
        found = Group.objects.filter(name__iexact=text).first()
    if found is None:
        nobody = "no active person" if active_only else "no person"
        raise UnknownParty(
            f"No group and {nobody} is “{text[:80]}”: give a group's name or a person's "
            "email address."
        )
    return found


class SimulatorForm(forms.Form):
    text = forms.CharField(
        label="Message",
        max_length=MAX_MESSAGE_CHARS,
        widget=forms.Textarea(
            {"rows": 8, "placeholder": "Paste a message as a user would send it"}
        ),
    )
    user = forms.CharField(
        label="Sent by",
        max_length=254,
        help_text="Their email address: their clearances and training decide too.",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    category = forms.TypedChoiceField(coerce=int, label="In category")

    def __init__(self, *args, categories=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [(c.number, f"{c.number} · {c.name}") for c in categories]

    def clean_user(self) -> User:
        """An active person, by email address (or public id): a list of everyone in a select
        grew with the company."""
        typed = self.cleaned_data["user"].strip()
        found = find_person(typed)
        if found is None:
            raise forms.ValidationError(f"No active person has the email address “{typed[:80]}”.")
        return found


# --- The policy console --------------------------------------------------------------

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


#: 100 years. Some bound is needed: past about 739,000 days the purge's cutoff falls
#: before year 1, which dates cannot hold.
MAX_RETENTION_DAYS = 36_500
MAX_TERM_FILE_BYTES = 4 * 1024 * 1024


def level_problem(number: int) -> str | None:
    """Why ``number`` cannot be a new category's level, if it cannot (the console, the REST
    API and a policy file all ask here)."""
    return None if 1 <= number <= 9 else "Levels go from 1 (public) to 9."


def retention_problem(days: int | None, *, blocks_all: bool) -> str | None:
    """Why a category cannot keep content ``days`` days (None: stores none), if it cannot."""
    if days is None:
        return None
    if blocks_all:
        return "A prohibited category stores nothing: leave retention empty."
    if days > MAX_RETENTION_DAYS:
        return (
            f"Keep content at most {MAX_RETENTION_DAYS:,} days (100 years), "
            "or leave it empty to store none."
        )
    return None


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
            "processor": forms.TextInput(attrs={"placeholder": "OpenAI Ireland Ltd"}),
            "transfer_safeguard": forms.TextInput(
                attrs={"placeholder": "Standard contractual clauses (2021/914), module 2"}
            ),
        }
        help_texts = {
            "credential_env": "Name of the environment variable holding the key. A key typed "
            "in “API key” replaces it.",
        }
        error_messages = {"name": {"unique": "A backend with this name already exists."}}

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
            self.add_error("dpa_expires_on", "Tick “DPA signed” or leave the expiry empty.")
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
        from chat.llm_clouds import own_identity_problem  # the vendors' clients: when needed

        if problem := own_identity_problem(kind, data.get("base_url") or ""):
            self.add_error("base_url", problem)

    def _clean_builtin_model(self, data: dict) -> None:
        """A short name means the packaged file (stored as ``smollm2``); else a GGUF path."""
        from chat.llm_builtin import is_packaged  # the model clients load only when needed

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


def _name_empty_choice(field: forms.ChoiceField, prompt: str) -> None:
    """Say what to choose where Django's select would open on "---------"."""
    field.choices = [("", prompt), *((v, label) for v, label in field.choices if v != "")]


#: What an on/off button posts.
SWITCH_VALUES = {"1": True, "0": False}


def switch_value(data, name: str) -> bool | None:
    """An on/off button's value: "1" is on, "0" off; None for anything else, or nothing,
    which the view refuses (rather than reading it as off, which would switch things off)."""
    return SWITCH_VALUES.get(data.get(name))


def switch_refusal(name: str) -> str:
    return f"“{name}” takes 1 (on) or 0 (off). Nothing was changed."


def _lines(text: str) -> list[str]:
    return [part.strip().lower() for part in re.split(r"[,\n]", text) if part.strip()]


#: A region code as providers write theirs: eu, us-east-1, europe-west4, swedencentral.
REGION_CODE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
#: A backend's region has at most this many characters (``Backend.region``).
REGION_CODE_LENGTH = 40
#: A category's allowed regions, as typed: ample for every region of every provider.
REGIONS_TEXT_LENGTH = 1000


def is_list_of_strings(value) -> bool:
    """Whether ``value`` (from JSON or YAML) is a list of strings; an empty one is a choice:
    none, or any."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def region_codes_problem(codes: list[str]) -> str | None:
    """Why ``codes`` cannot be a category's allowed regions, if they cannot: each is a code
    as a backend's region names it, compared as it is (no list of known ones: providers add
    regions, and an on-premise backend may say "on-site")."""
    bad = [code for code in codes if len(code) > REGION_CODE_LENGTH or not REGION_CODE.match(code)]
    if not bad:
        return None
    shown = ", ".join(code[:REGION_CODE_LENGTH] for code in bad[:3])
    return (
        f"Not a region code: {shown}. Give codes as backends name their region, separated "
        "by commas: eu, us-east-1, europe-west4."
    )


def _kept(days: int | None, blocks_all: bool) -> str:
    """How long a category keeps conversations, in words."""
    if blocks_all or days is None:
        return "no text"
    return f"{days} day{'' if days == 1 else 's'}"


@dataclass(frozen=True)
class RetentionCut:
    """What shortening a category's retention deletes at the next purge: the conversations
    the old window keeps and the new one does not, those under a legal hold aside."""

    category: str
    before: str
    after: str
    conversations: int
    messages: int
    #: What the page's confirm button posts: a window changed after this count was shown
    #: is counted and shown again.
    confirmation: str

    def __str__(self) -> str:
        from privacy.purge import counted

        return (
            f"Shorter retention: {self.category} kept {self.before}, now {self.after}. The "
            f"next purge deletes {counted(self.conversations, 'conversation')} "
            f"({counted(self.messages, 'message')}) that {self.before} would still keep. "
            "Confirm the shorter retention to save it."
        )

    @property
    def outcome(self) -> str:
        """Said once it is saved."""
        from privacy.purge import counted

        return (
            f"It now keeps {self.after}: the next purge deletes "
            f"{counted(self.conversations, 'conversation')} that {self.before} kept."
        )


def retention_cut(category: Category, *, retention_days: int | None, blocks_all: bool):
    """The :class:`RetentionCut` of giving ``category`` these values, or None when the next
    purge would delete nothing more for them: they lengthen or keep its window, or no
    conversation is idle between the two (a shorter window with nothing to delete yet
    is saved at once, as a longer one is)."""
    from chat.models import Message  # chat and privacy build on governance
    from privacy import purge
    from privacy.policy import expiry_cutoff

    if not category.stores_content:
        return None
    proposed = Category(
        pk=category.pk, number=category.number, retention_days=retention_days,
        blocks_all=blocks_all,
    )  # fmt: skip
    window = retention_days if proposed.stores_content else 0
    if window >= category.retention_days:
        return None
    now = timezone.now()
    newly_expired = purge.expired_conversations(proposed, now).filter(
        last_activity_at__gte=expiry_cutoff(now, category.retention_days)
    )
    conversations = newly_expired.count()
    if not conversations:
        return None
    return RetentionCut(
        category=category.name,
        before=_kept(category.retention_days, False),
        after=_kept(retention_days, blocks_all),
        conversations=conversations,
        messages=Message.objects.filter(conversation__in=newly_expired).count(),
        confirmation=str(window) if proposed.stores_content else "none",
    )


class CategoryForm(forms.ModelForm):
    """A category's description, retention and routing requirements.

    Shortening an existing category's retention deletes, at the next purge, what the old
    window kept: saved only once confirmed (:attr:`retention_cut` says how much).
    """

    allowed_hosting_classes = forms.MultipleChoiceField(
        choices=HostingClass.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Allowed hosting",
        help_text="None ticked: any hosting.",
    )
    allowed_regions = forms.CharField(
        required=False,
        max_length=REGIONS_TEXT_LENGTH,
        label="Allowed regions",
        help_text="Comma-separated, e.g. eu, ch. Empty: any region.",
    )
    # The page's button posts the window it showed the count for; the REST API sends true.
    confirm_shorter_retention = forms.BooleanField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Category
        fields = [f for f in Category.POLICY_FIELDS if f not in ("finding_actions", "is_active")]
        error_messages = {
            "number": {"unique": "A category with this number already exists."},
            "slug": {"unique": "A category with this slug already exists."},
        }
        labels = {
            "number": "Level",
            "retention_days": "Keep conversations for (days)",
            "blocks_all": "Prohibited: block every message",
            "forbid_training": "Forbid backends that train on inputs",
            "forbid_consumer_products": "Forbid consumer products",
            "require_zero_retention": "Require zero data retention at the provider",
            "require_dpa": "Require a signed data processing agreement",
            "do_examples": "Do (examples)",
            "dont_examples": "Don't (examples)",
        }
        help_texts = {
            "number": "The sensitivity level: 3 and above never leave our infrastructure, "
            "4 and above are blocked. Fixed once created.",
            "slug": "Used in addresses. Fixed once created.",
            "retention_days": "Days a conversation's text is kept after its last message, then "
            "deleted. Leave empty to keep no text at all: each answer is shown once and the "
            "conversation has no memory.",
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "do_examples": forms.Textarea(attrs={"rows": 3}),
            "dont_examples": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.retention_cut: RetentionCut | None = None
        if self.instance.pk:
            # Renumbering would silently move every conversation to another level.
            del self.fields["number"]
            del self.fields["slug"]
            self.initial["allowed_regions"] = ", ".join(self.instance.allowed_regions)

    def clean_number(self) -> int:
        number = self.cleaned_data["number"]
        if problem := level_problem(number):
            raise forms.ValidationError(problem)
        return number

    def clean_allowed_regions(self) -> list[str]:
        codes = sorted(set(_lines(self.cleaned_data["allowed_regions"])))
        if problem := region_codes_problem(codes):
            raise forms.ValidationError(problem)
        return codes

    def clean(self) -> dict:
        data = super().clean()
        days = data.get("retention_days")
        if problem := retention_problem(days, blocks_all=data.get("blocks_all", False)):
            self.add_error("retention_days", problem)
        if self.instance.pk and not self.errors:  # self.instance holds the saved values
            self.retention_cut = retention_cut(
                self.instance, retention_days=days, blocks_all=data.get("blocks_all", False)
            )
            if self.retention_cut and not self._confirmed(self.retention_cut):
                self.add_error("confirm_shorter_retention", str(self.retention_cut))
        return data

    def _confirmed(self, cut: RetentionCut) -> bool:
        given = self.data.get("confirm_shorter_retention")
        return given is True or given == cut.confirmation

    def values(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in self.fields
            if name != "confirm_shorter_retention"
        }


FINDING_ACTIONS = [
    (PolicyAction.ALLOW.value, "Allow"),
    (PolicyAction.WARN.value, "Warn"),
    (PolicyAction.PSEUDONYMISE.value, "Replace"),
    (PolicyAction.BLOCK.value, "Block"),
]
NATIONAL_ID_ROW = "NATIONAL_ID"


def finding_rows() -> list[tuple[str, str, tuple[str, ...]]]:
    """The matrix's rows: (field name, label, entity types it sets)."""
    from governance.scanning.base import NATIONAL_IDS, Entity

    rows = []
    for kind in Entity:
        if kind not in NATIONAL_IDS:
            plural = entity_phrase(kind, 2).split(" ", 1)[1]
            rows.append((str(kind), plural[:1].upper() + plural[1:], (str(kind),)))
    rows.append((NATIONAL_ID_ROW, "National identifiers", tuple(sorted(map(str, NATIONAL_IDS)))))
    return rows


class FindingMatrixForm(forms.Form):
    """One select per finding type: empty keeps the default for the category's level."""

    def __init__(self, *args, category: Category, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.category = category
        self.rows = []
        for name, label, kinds in finding_rows():
            default = default_action(category.number, kinds[0])
            choices = FINDING_ACTIONS
            if kinds[0] in SECRET_TYPES:  # the engine never lets a credential out in clear
                choices = [c for c in choices if c[0] in ("pseudonymise", "block")]
            default_label = dict(FINDING_ACTIONS)[default.value]
            field = forms.ChoiceField(
                label=label,
                required=False,
                choices=[("", f"Default: {default_label.lower()}"), *choices],
            )
            current = {category.finding_actions.get(k, "") for k in kinds}
            field.initial = current.pop() if len(current) == 1 else ""
            self.fields[name] = field
            self.rows.append((self[name], kinds, default_label))

    def actions(self) -> dict[str, str]:
        """The overrides to store: choices equal to the default are dropped."""
        actions = {}
        for name, _label, kinds in finding_rows():
            chosen = self.cleaned_data.get(name)
            for kind in kinds:
                if chosen and chosen != default_action(self.category.number, kind).value:
                    actions[kind] = chosen
        return dict(sorted(actions.items()))


def finding_matrix_form(given: object, *, category: Category) -> FindingMatrixForm:
    """The matrix form, cleaned, filled from a mapping finding type -> action (a REST
    request's, a policy file's); its ``actions()`` are what the engine reads.

    The form has one row per finding type, and one for every national identifier:
    those take one action, given under ``NATIONAL_ID`` or any of their own names.
    Raises ValidationError with every problem, each naming the key or row it is about.
    """
    if not isinstance(given, dict):
        raise forms.ValidationError("Give an object: finding type -> action.")
    rows = finding_rows()
    known = {name for row_name, _, kinds in rows for name in (row_name, *kinds)}
    names = ", ".join(row for row, _, _ in rows)
    problems = [
        f"Unknown finding type: {name}. Known: {names}." for name in given if name not in known
    ]
    data = {}
    for row_name, label, kinds in rows:
        chosen = [given[k] for k in dict.fromkeys((row_name, *kinds)) if k in given]
        if len({str(value) for value in chosen}) > 1:
            problems.append(f"{label} take one action together.")
        data[row_name] = chosen[0] if chosen and chosen[0] is not None else ""
    if problems:
        raise forms.ValidationError(problems)
    form = FindingMatrixForm(data=data, category=category)
    if not form.is_valid():
        raise forms.ValidationError(
            [
                f"{row}: {error['message']}"
                for row, errors in form.errors.get_json_data().items()
                for error in errors
            ]
        )
    return form


class ApprovalForm(forms.Form):
    """Approve a backend for a category; the requirements are checked here and again on save."""

    category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True),
        to_field_name="slug",
        empty_label="Choose a category",
    )
    backend = forms.ModelChoiceField(
        queryset=Backend.objects.all(), to_field_name="public_id", empty_label="Choose a backend"
    )
    preference = forms.IntegerField(
        min_value=1,
        max_value=1000,
        initial=100,
        help_text="Lower is tried first when several backends qualify: 1 before 2 before 100.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A prohibited category is not offered; sent all the same, clean() says why not.
        self.fields["category"].choices = [
            ("", "Choose a category"),
            *((c.slug, str(c)) for c in Category.objects.filter(is_active=True).sendable()),
        ]

    def clean(self) -> dict:
        data = super().clean()
        category, backend = data.get("category"), data.get("backend")
        if category and backend:
            for problem in unmet_requirements(category, backend, today=timezone.localdate()):
                self.add_error(None, problem)
            if Approval.objects.filter(category=category, backend=backend).exists():
                self.add_error(None, f"{backend.name} is already approved for {category.name}.")
        return data


class ClearanceForm(forms.Form):
    """Clear a role group or one person for a category (one a model may receive).

    ``party`` is typed: a group's name or a person's email address (the page offers the
    groups as suggestions). ``group:<name>`` and ``user:<public id>`` are understood too, as
    the REST API and the revoke buttons send them. A list of every person in a select grew
    with the company (228 KB and 176 ms at 2,000 people).
    """

    category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True),
        to_field_name="slug",
        empty_label="Choose a category",
    )
    party = forms.CharField(
        label="Who",
        max_length=254,
        help_text="A group (Staff, Policy admins…) or a person's email address.",
        widget=forms.TextInput(
            attrs={
                "list": "clearance-groups",
                "autocomplete": "off",
                "placeholder": "A group (Staff…) or a person's email",
            }
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.groups = list(Group.objects.order_by("name").values_list("name", flat=True))
        offered = Category.objects.filter(is_active=True).sendable()
        self.fields["category"].choices = [
            ("", "Choose a category"),
            *((category.slug, str(category)) for category in offered),
        ]

    def clean_party(self) -> str:
        party = self.cleaned_data["party"]
        self.found = resolve_party(party)
        return party

    def clean_category(self) -> Category:
        category = self.cleaned_data["category"]
        if problem := clearance_problem(category):
            raise forms.ValidationError(problem)
        return category

    def clean(self) -> dict:
        data = super().clean()
        found = getattr(self, "found", None)
        data["group"] = found if isinstance(found, Group) else None
        data["user"] = found if isinstance(found, User) else None
        category = data.get("category")
        if category and (data["group"] or data["user"]):
            exists = Clearance.objects.filter(
                category=category, group=data["group"], user=data["user"]
            ).exists()
            if exists:
                who = data["group"] or data["user"]
                self.add_error(None, f"{who} is already cleared for {category.name}.")
        return data


class RuleForm(forms.ModelForm):
    """A detection rule; the pattern is compiled and probed for catastrophic backtracking."""

    min_category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True),
        to_field_name="slug",
        required=False,
        label="Raise to category",
        empty_label="—",
        help_text="For “Raise the category”: the lowest category a matching message may use.",
    )

    class Meta:
        model = DetectionRule
        fields = ["name", "reason", "kind", "pattern", "case_sensitive", "action", "min_category"]
        error_messages = {"name": {"unique": "A rule with this name already exists."}}
        labels = {"case_sensitive": "Match case", "action": "When it matches"}
        help_texts = {
            "case_sensitive": "Regular expressions only: keywords match in any case and "
            "with or without accents."
        }
        widgets = {"pattern": forms.Textarea(attrs={"rows": 5, "spellcheck": "false"})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Retiring a category leaves the rules that escalate to it editable: they keep it.
        field = self.fields["min_category"]
        field.queryset = Category.objects.filter(
            Q(is_active=True) | Q(pk=self.instance.min_category_id)
        )
        field.label_from_instance = lambda c: str(c) if c.is_active else f"{c} (retired)"
        if self.instance.min_category_id:  # the initial pk would match no slug of the choices
            self.initial["min_category"] = self.instance.min_category
        _name_empty_choice(self.fields["action"], "Choose what a match does")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") and data.get("pattern") is not None:
            try:
                check_pattern(
                    data["kind"], data["pattern"], case_sensitive=data.get("case_sensitive", False)
                )
            except PatternError as exc:
                self.add_error("pattern", str(exc))
        if data.get("kind") == DetectionRule.Kind.KEYWORDS and data.get("case_sensitive"):
            self.add_error(
                "case_sensitive",
                "Keywords match in any case: untick “Match case”, or write a regular "
                "expression to match case.",
            )
        if data.get("action") == DetectionRule.Action.ESCALATE and not data.get("min_category"):
            self.add_error("min_category", "Choose the category a match raises the message to.")
        if data.get("action") != DetectionRule.Action.ESCALATE:
            data["min_category"] = None
        return data

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class TermListForm(forms.ModelForm):
    """A protected-term list: paste lines or upload a CSV. Terms are never shown back, but
    for the first few pasted, once saved (the view's message), to check how they were read."""

    pasted = forms.CharField(
        label="Paste terms",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One term per line, commas and all: “Northwind, Inc.” is one term. A single "
        "line is read as a comma-separated list (“Northwind, Fabrikam” is two terms): put a "
        "name with a comma in double quotes there.",
    )
    upload = forms.FileField(
        label="Or upload a CSV file",
        required=False,
        help_text="UTF-8, up to 4 MB; every non-empty cell is a term.",
        # Checked in the browser too (static/js/steward.js): a file far over the limit would
        # not reach this form's message, but the server's bare 413 (config.asgi).
        widget=forms.ClearableFileInput(attrs={"data-max-bytes": MAX_TERM_FILE_BYTES}),
    )

    #: Set when an error re-renders the form without the pasted terms.
    terms_forgotten = False
    #: Said after the save when a first row of column headings was left out.
    heading_notice = ""

    class Meta:
        model = ProtectedTermList
        fields = ["name", "kind"]
        error_messages = {"name": {"unique": "A term list with this name already exists."}}

    def __init__(self, *args, skip_headings: bool = False, **kwargs) -> None:
        """``skip_headings``: leave out a first row of column headings, for a caller that
        shows :attr:`heading_notice` after the save (the REST API keeps every row)."""
        super().__init__(*args, **kwargs)
        _name_empty_choice(self.fields["kind"], "Choose what the terms are")
        self.skip_headings = skip_headings
        if skip_headings:
            pasted, upload = self.fields["pasted"], self.fields["upload"]
            pasted.help_text += " A first line of column headings (“Term”, “Name”) is left out."
            upload.help_text += " A first row of column headings is left out."

    def full_clean(self) -> None:
        super().full_clean()
        if self.errors and self.data.get("pasted"):
            # "Never shown again" holds for the form an error sends back too.
            self.data = self.data.copy()
            self.data["pasted"] = ""
            self.terms_forgotten = True

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if not upload:
            return None
        if upload.size > MAX_TERM_FILE_BYTES:
            raise forms.ValidationError(
                f"This file is {upload.size / 1024 / 1024:.1f} MB; the limit is 4 MB."
            )
        raw = upload.read()
        if not raw.strip():
            raise forms.ValidationError("This file is empty.")
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "This file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
            ) from None

    def clean(self) -> dict:
        data = super().clean()
        pasted, uploaded = data.get("pasted", ""), data.get("upload")
        data["terms"] = None
        if "upload" in self.errors:
            return data
        if pasted.strip() and uploaded:
            self.add_error("pasted", "Paste terms or upload a file, not both.")
        elif pasted.strip() or uploaded:
            field = "upload" if uploaded else "pasted"
            try:
                terms, heading = read_terms(
                    uploaded or pasted, pasted=not uploaded, skip_heading=self.skip_headings
                )
            except TermsError as exc:
                self.add_error(field, str(exc))
                return data
            if not terms:
                self.add_error(field, "No terms found.")
            data["terms"] = terms
            self.heading_notice = _heading_notice(heading)
        elif not self.instance.pk:
            self.add_error("pasted", "Paste the terms or upload a CSV file.")
        return data

    def values(self) -> dict:
        return {"name": self.cleaned_data["name"], "kind": self.cleaned_data["kind"]}

    def pasted_terms(self) -> list[str] | None:
        """The terms read from the paste box, if it gave them: the save's message shows the
        first few, to check how the box was read (lines, or one line's commas). An uploaded
        file is read cell by cell, as a spreadsheet shows it."""
        return None if self.cleaned_data.get("upload") else self.cleaned_data["terms"]


#: Enough of a row of column headings to recognise it by.
HEADING_SHOWN_CHARS = 60


def _heading_notice(heading: tuple[str, ...]) -> str:
    """What to say of a first row left out as column headings, and how to keep it if the
    guess was wrong: nothing given is dropped silently."""
    if not heading:
        return ""
    shown = ", ".join(heading)
    if len(shown) > HEADING_SHOWN_CHARS:
        shown = shown[: HEADING_SHOWN_CHARS - 1] + "…"
    return (
        f"The first row, “{shown}”, looked like column headings and was not added. "
        "If it is a term, save the list again with it further down."
    )
