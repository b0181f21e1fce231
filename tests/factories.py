"""Plain factory functions: ``make_x(**overrides)`` saves, ``x_attrs`` does not."""

from types import SimpleNamespace

from governance.models import Backend, Category, HostingClass, User
from governance.roles import Role


def category_attrs(**overrides) -> SimpleNamespace:
    values = {
        "number": 1,
        "name": "Internal",
        "blocks_all": False,
        "allowed_hosting_classes": [],
        "forbid_training": False,
        "forbid_consumer_products": False,
        "require_zero_retention": False,
        "allowed_regions": [],
        "require_dpa": False,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def backend_attrs(**overrides) -> SimpleNamespace:
    values = {
        "name": "Backend",
        "hosting_class": HostingClass.ON_PREM,
        "trains_on_inputs": False,
        "consumer_product": False,
        "provider_retention_days": 0,
        "region": "eu",
        "dpa_signed": False,
        "dpa_expires_on": None,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def make_user(email: str, *roles: Role, password: str = "correct-horse-battery", **fields) -> User:
    from django.contrib.auth.models import Group

    user = User.objects.create_user(email, password, **fields)
    for role in roles:
        user.groups.add(Group.objects.get(name=role.group_name))
    return user


def make_category(**overrides) -> Category:
    values = {
        "number": 1,
        "slug": "public",
        "name": "Public",
        "summary": "Information already public.",
        "retention_days": 90,
    }
    values.update(overrides)
    return Category.objects.create(**values)


def make_backend(**overrides) -> Backend:
    values = {
        "name": "Local Ollama",
        "kind": Backend.Kind.OLLAMA,
        "base_url": "http://127.0.0.1:11434",
        "model": "llama3.2",
        "hosting_class": HostingClass.ON_PREM,
    }
    values.update(overrides)
    return Backend.objects.create(**values)


def make_chat_event(
    *,
    category: str = "Public",
    number: int = 1,
    backend: str = "Local Ollama",
    hosting: str = "on_prem",
    decision: str = "allowed",
    findings: dict | None = None,
    actor=None,
):
    """A ``chat.request`` audit event shaped as the chat path records it."""
    from audit.models import AuditEvent
    from audit.services import record

    blocked = decision == "blocked"
    return record(
        action=AuditEvent.Action.CHAT_REQUEST,
        actor=actor,
        category=category,
        backend="" if blocked else backend,
        outcome=AuditEvent.Outcome.BLOCKED if blocked else AuditEvent.Outcome.SUCCESS,
        details={
            "category_number": number,
            "decision": decision,
            "hosting_class": "" if blocked else hosting,
            "region": "eu",
            "findings": findings or {},
            "chars": 120,
        },
    )


def make_done_answer(owner: User, text: str = "Done."):
    """A finished answer in a new conversation of ``owner``'s (category 1)."""
    from chat.models import Conversation, Message

    conversation = Conversation(owner=owner, category=make_category())
    conversation.init_key()
    conversation.save()
    answer = Message(conversation=conversation, role="assistant", status="done", category_number=1)
    answer.content = text
    answer.save()
    return answer
