"""Who may send what where: users, data categories, backends and clearances."""

import os
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from config.env import backend_key_variable_problem
from governance.policy import BACKEND_ATTRIBUTE_FIELDS, HOSTING_LABELS, ROUTING_FIELDS
from governance.querysets import BackendQuerySet, CategoryQuerySet, ClearanceQuerySet
from governance.roles import ROLE_PERMISSIONS

#: An erased account keeps its row (the records that name it point at it) under an address
#: in this reserved domain, without a name (``privacy.erasure.erase_account``).
ERASED_DOMAIN = "erased.invalid"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)  # None gives an unusable password (invitations)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Identified by email; roles come from group membership."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Unused: Steward has no Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    invited_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        permissions = list(ROLE_PERMISSIONS.values())
        constraints = [
            models.UniqueConstraint(Lower("email"), name="governance_user_email_ci_unique")
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.is_erased:
            return "Erased account"
        return self.full_name or self.email

    @property
    def is_erased(self) -> bool:
        """Whether a data-subject request erased this account."""
        return self.email.endswith(f"@{ERASED_DOMAIN}")

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class HostingClass(models.TextChoices):
    ON_PREM = "on_prem", HOSTING_LABELS["on_prem"]
    PRIVATE_CLOUD = "private_cloud", HOSTING_LABELS["private_cloud"]
    EXTERNAL_API = "external_api", HOSTING_LABELS["external_api"]


class Category(models.Model):
    """A data category: what kind of data a message holds, and where it may go.

    Routing is a set of requirements on backend attributes; a backend must meet
    all of them (and be approved explicitly) to serve the category.
    """

    number = models.PositiveSmallIntegerField(unique=True)
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    summary = models.CharField(max_length=200, help_text="One line shown in the category picker.")
    description = models.TextField(blank=True)
    do_examples = models.TextField(blank=True, help_text="One example per line.")
    dont_examples = models.TextField(blank=True, help_text="One example per line.")
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: content is never stored."
    )
    blocks_all = models.BooleanField(
        default=False, help_text="Prohibited: nothing is sent anywhere and nothing is stored."
    )
    allowed_hosting_classes = models.JSONField(default=list, blank=True)
    forbid_training = models.BooleanField(default=False)
    forbid_consumer_products = models.BooleanField(default=False)
    require_zero_retention = models.BooleanField(default=False)
    allowed_regions = models.JSONField(default=list, blank=True, help_text="Empty: any region.")
    require_dpa = models.BooleanField(default=False)
    finding_actions = models.JSONField(
        default=dict,
        blank=True,
        help_text="Overrides of the finding matrix: entity type -> allow, warn, pseudonymise, "
        "block.",
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CategoryQuerySet.as_manager()

    #: The settings that make up the policy (what the console edits, exports and audits).
    POLICY_FIELDS = (
        "number", "slug", "name", "summary", "description", "do_examples", "dont_examples",
        "retention_days", *ROUTING_FIELDS, "finding_actions", "is_active",
    )  # fmt: skip

    class Meta:
        ordering = ["number"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return f"{self.number} · {self.name}"

    @property
    def stores_content(self) -> bool:
        return self.retention_days is not None and not self.blocks_all


class Backend(models.Model):
    """An LLM endpoint and the attributes the routing rules are written against."""

    class Kind(models.TextChoices):
        OLLAMA = "ollama", "Ollama"
        OPENAI = "openai", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic"
        BUILTIN = "builtin", "Built-in local model"
        BEDROCK = "bedrock", "AWS Bedrock"
        AZURE = "azure", "Azure OpenAI"
        VERTEX = "vertex", "Google Vertex AI"
        MISTRAL = "mistral", "Mistral"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(max_length=300, blank=True)
    model = models.CharField(max_length=200)
    credential_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the key."
    )
    credential_encrypted = models.BinaryField(
        blank=True, default=b"", editable=False, help_text="The key, sealed with the master key."
    )
    hosting_class = models.CharField(max_length=20, choices=HostingClass.choices)
    trains_on_inputs = models.BooleanField(default=False)
    consumer_product = models.BooleanField(default=False)
    provider_retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="0 = zero data retention; empty = unknown."
    )
    region = models.CharField(
        max_length=40,
        blank=True,
        help_text="Where the provider processes data. Bedrock and Vertex AI call this region.",
    )
    api_version = models.CharField(
        max_length=40,
        blank=True,
        help_text="Azure OpenAI: the api-version of a classic endpoint; empty for /openai/v1.",
    )
    project = models.CharField(
        max_length=100, blank=True, help_text="Vertex AI: the Google Cloud project id."
    )
    context_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How much the model reads per call (tokens). Empty: the kind's usual.",
    )
    dpa_signed = models.BooleanField(default=False)
    dpa_expires_on = models.DateField(null=True, blank=True)
    processor = models.CharField(
        max_length=200,
        blank=True,
        help_text="The company that runs it (GDPR Art. 30). Empty: the organisation itself.",
    )
    transfer_safeguard = models.CharField(
        max_length=300,
        blank=True,
        help_text="The safeguard for sending data outside the EU/EEA, e.g. standard contractual "
        "clauses. Empty: no such transfer.",
    )
    enabled = models.BooleanField(default=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    health_error = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BackendQuerySet.as_manager()

    #: The settings that make up the policy (never the credential itself).
    POLICY_FIELDS = (
        "name", "kind", "base_url", "model", "api_version", "project", "context_tokens",
        "credential_env", *BACKEND_ATTRIBUTE_FIELDS, "processor", "transfer_safeguard",
        "enabled",
    )  # fmt: skip
    #: Where each kind's service usually runs: the hosting class a new backend starts with.
    USUAL_HOSTING = {
        Kind.OLLAMA: HostingClass.ON_PREM,
        Kind.BUILTIN: HostingClass.ON_PREM,
        Kind.OPENAI: HostingClass.EXTERNAL_API,
        Kind.ANTHROPIC: HostingClass.EXTERNAL_API,
        Kind.MISTRAL: HostingClass.EXTERNAL_API,
        Kind.BEDROCK: HostingClass.PRIVATE_CLOUD,
        Kind.AZURE: HostingClass.PRIVATE_CLOUD,
        Kind.VERTEX: HostingClass.PRIVATE_CLOUD,
    }
    #: How many tokens a model of each kind reads per call, when the backend says nothing.
    #: Modest on purpose: a bigger window costs more per answer; raise it per backend.
    USUAL_CONTEXT_TOKENS = {
        Kind.OLLAMA: 4_096,  # Ollama's own default context length
        Kind.BUILTIN: 2_048,
        Kind.OPENAI: 16_384,
    }
    DEFAULT_CONTEXT_TOKENS = 32_768

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def context_budget(self) -> int:
        """How many tokens of context a call to this backend may carry."""
        return self.context_tokens or self.USUAL_CONTEXT_TOKENS.get(
            self.kind, self.DEFAULT_CONTEXT_TOKENS
        )

    @property
    def key_missing(self) -> bool:
        """Whether its key is to come from an environment variable this server does not set,
        or does not offer for backends' keys (no key is stored): a message then goes to the
        next approved backend instead."""
        return (
            bool(self.credential_env)
            and not self.credential_encrypted
            and (
                not os.environ.get(self.credential_env)
                or backend_key_variable_problem(
                    self.credential_env, settings.STEWARD_BACKEND_KEY_VARIABLES
                )
                is not None
            )
        )

    def seal_credential(self, key: str) -> None:
        """Store ``key`` sealed with the master key (bound to this backend); save separately."""
        from governance import crypto

        self.credential_encrypted = crypto.seal(key.encode(), context=self._credential_context())

    def open_credential(self) -> str:
        """The stored key, or "" if none; raises ``crypto.SealError`` if it will not open."""
        from governance import crypto

        blob = bytes(self.credential_encrypted or b"")
        if not blob:
            return ""
        return crypto.open_sealed(blob, context=self._credential_context()).decode()

    def _credential_context(self) -> bytes:
        return f"backend-credential:{self.public_id}".encode()


class Approval(models.Model):
    """A policy admin's explicit approval of a backend for a category."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="approvals")
    backend = models.ForeignKey(Backend, on_delete=models.CASCADE, related_name="approvals")
    preference = models.PositiveSmallIntegerField(default=100, help_text="Lower is tried first.")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["category__number", "preference", "backend__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "backend"], name="governance_approval_unique_pair"
            )
        ]

    def __str__(self) -> str:
        return f"{self.backend} for {self.category}"


class Clearance(models.Model):
    """Permission for a group or a single user to use a category."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="clearances")
    group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="clearances"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="clearances",
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    objects = ClearanceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(group__isnull=True, user__isnull=False)
                | Q(group__isnull=False, user__isnull=True),
                name="governance_clearance_group_xor_user",
            ),
            models.UniqueConstraint(
                fields=["category", "group"],
                condition=Q(group__isnull=False),
                name="governance_clearance_unique_group",
            ),
            models.UniqueConstraint(
                fields=["category", "user"],
                condition=Q(user__isnull=False),
                name="governance_clearance_unique_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group or self.user} → {self.category}"


class DetectionRule(models.Model):
    """An admin rule: keywords or a regular expression, and what a match does.

    The pattern is checked when saved (valid, and no catastrophic backtracking
    on adversarial probes) and always run with a time limit.
    """

    class Kind(models.TextChoices):
        KEYWORDS = "keywords", "Keywords (one per line)"
        REGEX = "regex", "Regular expression"

    class Action(models.TextChoices):
        BLOCK = "block", "Block the message"
        ESCALATE = "escalate", "Raise the category"
        PSEUDONYMISE = "pseudonymise", "Replace the match"
        WARN = "warn", "Warn the sender"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80, unique=True)
    reason = models.CharField(max_length=200, help_text="Shown to the sender when it matches.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.KEYWORDS)
    pattern = models.TextField()
    case_sensitive = models.BooleanField(default=False)
    action = models.CharField(max_length=15, choices=Action.choices)
    min_category = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For escalation: the lowest category a matching message may be sent in.",
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(action="escalate") | Q(min_category__isnull=False),
                name="governance_rule_escalation_has_category",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ProtectedTermList(models.Model):
    """Exact-data terms (client names, codenames, staff names), stored sealed."""

    class Kind(models.TextChoices):
        CLIENT = "client", "Client names"
        CODENAME = "codename", "Project codenames"
        STAFF = "staff", "Staff names"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    terms_sealed = models.BinaryField(default=b"", editable=False)
    term_count = models.PositiveIntegerField(default=0, editable=False)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def terms(self) -> list[str]:
        from governance import crypto

        if not self.terms_sealed:
            return []
        plain = crypto.open_sealed(bytes(self.terms_sealed), context=self._context())
        return plain.decode().split("\n")

    def set_terms(self, terms: list[str]) -> None:
        from governance import crypto

        clean = sorted({t.strip() for t in terms if t.strip()}, key=lambda t: (t.casefold(), t))
        self.terms_sealed = crypto.seal("\n".join(clean).encode(), context=self._context())
        self.term_count = len(clean)

    def _context(self) -> bytes:
        return f"protected-terms:{self.public_id}".encode()


class PolicyVersion(models.Model):
    """One row whose token changes whenever a table the policy is read from is written.

    Database triggers change it, so no write path can forget to: services, policy
    import, ``QuerySet.update()``, ``bulk_create()`` and raw SQL alike. Each process
    caches the policy under the token it last read (see :mod:`governance.policy_cache`,
    which installs the triggers after every ``migrate``).
    """

    token = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"policy version {self.token}"
