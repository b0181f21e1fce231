"""The demo organisation: one user per role, the four default categories, three backends."""

from dataclasses import dataclass, field

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    HostingClass,
    User,
)
from governance.roles import Role

DEMO_PASSWORD = "steward-demo-2026"

DEMO_USERS: list[tuple[str, str, tuple[Role, ...]]] = [
    ("alice@example.com", "Alice Martin", (Role.STAFF,)),
    ("bob@example.com", "Bob Chen", (Role.STAFF,)),
    ("carol@example.com", "Carol Okafor", (Role.STAFF,)),
    ("paula@example.com", "Paula Policy", (Role.STAFF, Role.POLICY_ADMIN)),
    ("priya@example.com", "Priya Privacy", (Role.STAFF, Role.PRIVACY_OFFICER)),
    # A second privacy officer: data-subject requests need four eyes (one scopes, one approves).
    ("oscar@example.com", "Oscar Olsen", (Role.PRIVACY_OFFICER,)),
    ("aaron@example.com", "Aaron Audit", (Role.AUDITOR,)),
]

# Carol works with customer files, Priya with data-subject requests: they (personally) are
# cleared for category 3.
CONFIDENTIAL_USERS = ("carol@example.com", "priya@example.com")

CATEGORIES = [
    {
        "number": 1,
        "slug": "public",
        "name": "Public",
        "summary": "Information already public: published docs, general knowledge, open source.",
        "description": "Anything you could post on the company website without asking anyone.",
        "do_examples": "Summarise a published press release\nExplain a public API's documentation\n"
        "Draft a job advert",
        "dont_examples": "A customer's email\nUnreleased figures",
        "retention_days": 90,
    },
    {
        "number": 2,
        "slug": "internal",
        "name": "Internal",
        "summary": "Everyday company information that is not about identifiable people or clients.",
        "description": "Internal processes, ordinary code, meeting notes without personal data.",
        "do_examples": "Rewrite an internal how-to\nReview code from an internal tool",
        "dont_examples": "Customer names or contracts\nHR matters about a colleague",
        "retention_days": 30,
        "allowed_hosting_classes": [
            HostingClass.ON_PREM,
            HostingClass.PRIVATE_CLOUD,
            HostingClass.EXTERNAL_API,
        ],
        "forbid_training": True,
        "forbid_consumer_products": True,
        "require_dpa": True,
    },
    {
        "number": 3,
        "slug": "confidential",
        "name": "Confidential / personal data",
        "summary": "Client data, personal data, contracts: stays on our own infrastructure.",
        "description": "Anything about identifiable people or clients; confidential business data.",
        "do_examples": "Summarise a customer support thread\nDraft a reply to a client's complaint",
        "dont_examples": "Passwords or keys\nHealth data (ask the privacy officer)",
        "retention_days": 7,
        "allowed_hosting_classes": [HostingClass.ON_PREM, HostingClass.PRIVATE_CLOUD],
        "forbid_training": True,
        "forbid_consumer_products": True,
    },
    {
        "number": 4,
        "slug": "prohibited",
        "name": "Prohibited",
        "summary": "Never to be pasted: passwords, legal advice, health, religion or other "
        "sensitive personal data.",
        "description": "Steward blocks a message handled as this category, or caught by a "
        "company rule, and records the attempt. Keys and passwords are not blocked: those "
        "Steward recognises are replaced by a placeholder and never reach the model, but the "
        "conversation keeps them as long as it is kept; those it does not recognise go "
        "through as written.",
        "do_examples": "",
        "dont_examples": "Passwords, private keys, API tokens\nPrivileged legal advice\n"
        "Health, biometric or criminal-record data",
        "retention_days": None,
        "blocks_all": True,
    },
]

#: Health data has no pattern to detect it by: the demo blocks the words that usually come
#: with it (its prohibited card lists health data), and the preview says so as it is typed.
#: A heuristic that misses most health data and catches some harmless text, not detection.
RULES = [
    {
        "name": "Health information",
        "reason": "Health information is sensitive personal data and may not be sent to a model",
        "kind": DetectionRule.Kind.KEYWORDS,
        "pattern": "diagnosed with\nsick leave\nsick note\nmedical condition\nmedication\n"
        "pregnant\npregnancy\ndisability\nmental health",
        "action": DetectionRule.Action.BLOCK,
    },
]

BUILTIN_NAME = "Built-in model"

BACKENDS = [
    {
        "name": BUILTIN_NAME,
        "kind": Backend.Kind.BUILTIN,
        "model": "smollm2",
        "hosting_class": HostingClass.ON_PREM,
        "provider_retention_days": 0,
        "region": "on-site",
        "dpa_signed": False,
    },
    {
        "name": "Local Ollama",
        "kind": Backend.Kind.OLLAMA,
        "base_url": "http://127.0.0.1:11434",
        "model": "llama3.2",
        "hosting_class": HostingClass.ON_PREM,
        "provider_retention_days": 0,
        "region": "on-site",
        "dpa_signed": False,
    },
    {
        "name": "OpenAI business API",
        "kind": Backend.Kind.OPENAI,
        "base_url": "https://api.openai.com/v1",
        "model": "gpt-4o-mini",
        "credential_env": "OPENAI_API_KEY",
        "hosting_class": HostingClass.EXTERNAL_API,
        "provider_retention_days": 30,
        "region": "us",
        "dpa_signed": True,
    },
]

# The built-in model comes first where nothing else is sure to answer on a fresh machine
# (no Ollama running); Internal keeps the external API first, to show pseudonymisation,
# with the built-in model next for when the API cannot be reached.
APPROVALS = {
    "public": [BUILTIN_NAME, "Local Ollama", "OpenAI business API"],
    "internal": ["OpenAI business API", BUILTIN_NAME, "Local Ollama"],
    "confidential": [BUILTIN_NAME, "Local Ollama"],
}


def builtin_installed() -> bool:
    """Whether this machine has the built-in model (Steward's ``local`` extra)."""
    from chat.llm.builtin import installed

    return installed()


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created)


def seed_demo_organisation() -> SeedReport:
    """Create whatever part of the demo organisation is missing; never overwrite edits."""
    report = SeedReport()
    with transaction.atomic():
        categories = {}
        for values in CATEGORIES:
            category, created = Category.objects.get_or_create(slug=values["slug"], defaults=values)
            categories[category.slug] = category
            if created:
                report.created.append(f"category {category}")
        backends = {}
        for values in BACKENDS:
            if values["kind"] == Backend.Kind.BUILTIN:
                # Without the "local" extra it would fail every answer: seeded switched off.
                values = {**values, "enabled": builtin_installed()}
            backend, created = Backend.objects.get_or_create(name=values["name"], defaults=values)
            backends[backend.name] = backend
            if created:
                report.created.append(f"backend {backend}")
        for slug, names in APPROVALS.items():
            for preference, name in enumerate(names, start=1):
                _, created = Approval.objects.get_or_create(
                    category=categories[slug],
                    backend=backends[name],
                    defaults={"preference": preference},
                )
                if created:
                    report.created.append(f"approval {name} → {slug}")
        for values in RULES:
            _, created = DetectionRule.objects.get_or_create(name=values["name"], defaults=values)
            if created:
                report.created.append(f"rule {values['name']}")
        staff_group = Group.objects.get(name=Role.STAFF.group_name)
        for slug in ("public", "internal"):
            _, created = Clearance.objects.get_or_create(
                category=categories[slug], group=staff_group
            )
            if created:
                report.created.append(f"clearance staff → {slug}")
        for email, full_name, roles in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, DEMO_PASSWORD, full_name=full_name)
                EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
                user.groups.add(*Group.objects.filter(name__in=[r.group_name for r in roles]))
                report.created.append(f"user {email}")
            if email in CONFIDENTIAL_USERS:
                _, created = Clearance.objects.get_or_create(
                    category=categories["confidential"], user=user
                )
                if created:
                    report.created.append(f"clearance {email} → confidential")
        if report.changed:
            record(
                action=AuditEvent.Action.POLICY_SEEDED,
                actor_label="seed_demo",
                details={"created": len(report.created)},
            )
    return report


def publish_demo_policy() -> SeedReport:
    """Publish the usage policy that ships with Steward as version 1, unless there is a
    policy document already (a draft or a published version: never overwrite edits).

    Staff are then asked to acknowledge it before their first chat, as on a real site. It
    is kept out of :func:`seed_demo_organisation`, which the tests use to set up a site
    before its first version is published.
    """
    from training.defaults import DEFAULT_POLICY_BODY, DEFAULT_POLICY_TITLE
    from training.models import PolicyDocument

    report = SeedReport()
    with transaction.atomic():
        if PolicyDocument.objects.select_for_update().exists():
            return report
        document = PolicyDocument.objects.create(
            version=1,
            title=DEFAULT_POLICY_TITLE,
            body=DEFAULT_POLICY_BODY,
            status=PolicyDocument.Status.PUBLISHED,
            published_at=timezone.now(),
        )
        record(
            action=AuditEvent.Action.TRAINING_POLICY_PUBLISHED,
            actor_label="seed_demo",
            target=document,
            details={"version": 1, "previous_version": None},
        )
        report.created.append(f"{document} (published)")
    return report
