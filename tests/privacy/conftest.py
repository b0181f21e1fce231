import datetime as dt

import pytest
from django.utils import timezone

from audit.services import pseudonym
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import canonical
from tests.chat.conftest import external_llm, local_llm, org  # noqa: F401  (fixtures)


def make_conversation(owner, category, *, days_idle: float = 0, texts=("Hello", "Hi there")):
    """A conversation with alternating user/assistant messages, last active ``days_idle`` ago."""
    at = timezone.now() - dt.timedelta(days=days_idle)
    conversation = Conversation(owner=owner, category=category, last_activity_at=at, created_at=at)
    conversation.init_key()
    conversation.title = texts[0][:40]
    conversation.save()
    for number, text in enumerate(texts):
        message = Message(
            conversation=conversation,
            role=Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT,
            status=Message.Status.SENT if number % 2 == 0 else Message.Status.DONE,
            category_number=category.number,
            created_at=at,
        )
        message.content = text
        message.save()
    return conversation


def mention(conversation, kind: str, value: str):
    message = conversation.messages.first()
    return SubjectMention.objects.create(
        digest=pseudonym(canonical(kind, value)),
        kind=kind,
        conversation=conversation,
        message=message,
    )


def make_privacy_objects(staff, *, request_id: str, hold_id: str, purge_id: str) -> None:
    """A data-subject request about ``staff``, a hold on them and a finished purge run."""
    from privacy.models import LegalHold, PurgeRun, SubjectRequest

    SubjectRequest.objects.create(
        public_id=request_id,
        reference="DSR-2026-0001",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        subject_user=staff,
        received_on=dt.date(2026, 11, 30),
        due_on=dt.date(2026, 12, 30),
    )
    LegalHold.objects.create(public_id=hold_id, user=staff, reason="Case 1")
    PurgeRun.objects.create(public_id=purge_id, status=PurgeRun.Status.DONE)


@pytest.fixture
def officers(db):
    from governance.roles import Role
    from tests.factories import make_user

    return (
        make_user("priya@corp.example", Role.PRIVACY_OFFICER, Role.STAFF, full_name="Priya"),
        make_user("omar@corp.example", Role.PRIVACY_OFFICER, full_name="Omar"),
    )
