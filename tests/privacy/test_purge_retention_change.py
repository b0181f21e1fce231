"""A category that stops storing content: what it stored before goes at the next purge (held
conversations stay), and its conversations of metadata alone stay as they always did."""

import pytest

from audit.models import AuditEvent
from chat.models import Conversation, Message
from governance import services as governance
from privacy import purge, services
from privacy.models import PurgeRun
from tests.privacy.conftest import make_conversation


def make_metadata_only(owner, category):
    """A conversation as a category that keeps no content stores it: no title, sizes only."""
    conversation = Conversation(owner=owner, category=category)
    conversation.init_key()
    conversation.save()
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.USER,
        status=Message.Status.SENT,
        category_number=category.number,
        chars=12,
    )
    return conversation


@pytest.fixture
def stopped(org, owner, officers):
    """Internal content stored over the last days, then Internal stops storing any."""
    officer = officers[0]
    stored = {
        "recent": make_conversation(org.alice, org.internal, days_idle=1),
        "older": make_conversation(org.alice, org.internal, days_idle=20, texts=("A", "B", "C")),
        "held_conversation": make_conversation(org.alice, org.internal, days_idle=2),
        "held_person": make_conversation(org.carol, org.internal, days_idle=2),
        "other_category": make_conversation(org.alice, org.public, days_idle=1),
    }
    services.place_hold(actor=officer, reason="Case 7", conversation=stored["held_conversation"])
    services.place_hold(actor=officer, reason="Case 8", user=org.carol)
    stored["metadata_only"] = make_metadata_only(org.alice, org.internal)
    return stored


def _left():
    return set(Conversation.objects.values_list("pk", flat=True))


@pytest.mark.parametrize(
    "values",
    [{"retention_days": None}, {"retention_days": None, "blocks_all": True}],
    ids=["never-stored", "prohibited"],
)
def test_content_stored_before_a_category_stopped_storing_is_purged(stopped, org, owner, values):
    governance.save_category(category=org.internal, values=values, actor=owner)

    expired = purge.preview()  # the dry run says so first
    assert expired.counts == {org.internal.name: {"conversations": 2, "messages": 5}}
    assert expired.held == 2

    run = purge.run(purge.start())
    assert run.status == PurgeRun.Status.DONE
    assert run.counts == {org.internal.name: {"conversations": 2, "messages": 5}}
    kept = {"held_conversation", "held_person", "other_category", "metadata_only"}
    assert _left() == {stopped[name].pk for name in kept}
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_PURGED)
    assert event.details["counts"] == run.counts


def test_a_category_that_never_stored_content_keeps_its_metadata(org):
    conversation = make_metadata_only(org.alice, org.prohibited)
    assert purge.preview().counts == {}
    purge.run(purge.start())
    assert conversation.pk in _left()


def test_a_placeholder_mapping_stored_before_counts_as_content(org, owner):
    """The mapping holds the replaced values themselves: a conversation that still has one
    goes at the next purge like one that still has text."""
    with_mapping = make_metadata_only(org.alice, org.internal)
    with_mapping.set_pseudonyms({"[EMAIL_1]": "jane.roe@example.org"})
    with_mapping.save(update_fields=["pseudonyms_sealed"])
    governance.save_category(category=org.internal, values={"retention_days": None}, actor=owner)
    metadata_only = make_metadata_only(org.alice, org.internal)
    internal = type(org.internal).objects.get(pk=org.internal.pk)
    expired = set(purge.expired_conversations(internal).values_list("pk", flat=True))
    assert with_mapping.pk in expired and metadata_only.pk not in expired
