"""A conversation's own life: started, given a title by its owner, deleted; never renamed or
deleted while a legal hold keeps it."""

import logging

from django.db import transaction

from audit.models import AuditEvent
from audit.services import record
from audit.writes import Writes
from chat import transient
from chat.models import Conversation, Message, SubjectMention
from chat.services.steps import (
    TITLE_CHARS,
    ChatError,
    _forget_quietly,
    _require_acknowledgement,
    subject_digests,
)
from governance.detection import detect
from governance.models import Category, User
from governance.policy import Outcome, screen
from governance.policy_cache import Version, read_version
from governance.simulation import policy_input, policy_snapshot

logger = logging.getLogger(__name__)

#: Why its owner cannot delete or rename a conversation a legal hold keeps: not "legal hold",
#: which would tell the person an investigation may be about that there is one.
HELD_FOR_NOW = "This conversation is kept by the privacy team for now:"


def start_conversation(*, owner: User, category: Category) -> Conversation:
    """A new, empty conversation in a category the owner is cleared for."""
    conversation = _new_conversation(owner=owner, category=category)
    with transaction.atomic():
        _store_new(conversation)
    return conversation


def _new_conversation(
    *, owner: User, category: Category, version: Version | None = None
) -> Conversation:
    """An unsaved conversation, once the owner may start it (a refusal raises ChatError)."""
    version = version or read_version(owner.pk)
    _require_acknowledgement(owner, version)
    # The snapshot's clearances are for active categories only.
    if category.number not in policy_snapshot(version).cleared(owner.pk, version.group_ids):
        raise ChatError(f"You are not cleared for category {category.number} ({category.name}).")
    if category.blocks_all:
        raise ChatError(f"{category.name} material may not be sent to any model.")
    conversation = Conversation(owner=owner, category=category)
    conversation.init_key()
    return conversation


def _store_new(conversation: Conversation, writes: Writes | None = None) -> None:
    """Save a new conversation with its ``chat.started`` event (inside the caller's
    transaction), or add both to ``writes``."""
    if writes is None:
        conversation.save()
    else:
        writes.insert(conversation)
    record(
        action=AuditEvent.Action.CHAT_STARTED,
        actor=conversation.owner,
        target=conversation,
        category=conversation.category.name,
        details={"category_number": conversation.category.number},
    )


def rename_conversation(*, conversation: Conversation, actor: User, title: str) -> str:
    """Give a conversation a title of its owner's choosing; the title as saved.

    A title is kept like a message's text (as typed, sealed with the conversation, purged
    and erased with it) and sent to no model. So it is screened like a message in the
    conversation's category: what a message would be blocked for is not kept, and what
    would move a message to another category does not stand in this one's title. A
    category that keeps no content keeps no title either, and a conversation under a
    legal hold keeps the one it has.
    """
    title = " ".join(title.split())
    category = conversation.category
    if not title:
        raise ChatError("Give the conversation a title.")
    if len(title) > TITLE_CHARS:
        raise ChatError(f"Keep the title to {TITLE_CHARS} characters (this one has {len(title)}).")
    if not transient.keeps_content(conversation):
        raise ChatError(f"{category.name} keeps no content, so its conversations have no title.")
    try:
        detection = detect(title)
    except Exception:
        logger.exception("scanner failed on a title in %s", conversation.public_id)
        raise ChatError(
            "Steward could not check this title, so it was not saved. Try again; if it keeps "
            "happening, tell your policy admin."
        ) from None
    screened = screen(
        policy_input(
            user=actor,
            chosen=category.number,
            scan_result=detection.scan,
            rule_hits=detection.rule_hits,
        )
    )
    if screened.outcome in (Outcome.BLOCK, Outcome.ESCALATE):
        raise ChatError(
            "A title may not hold what a message here would be blocked for, or moved to "
            f"another category for. {' '.join(screened.reasons)}".rstrip()
        )
    with transaction.atomic():
        _unless_held(
            conversation,
            actor,
            AuditEvent.Action.CHAT_RENAMED,
            {"chars": len(title)},
            refusal=f"{HELD_FOR_NOW} its title cannot change.",
        )
        conversation.title = title
        Conversation.objects.filter(pk=conversation.pk).update(
            title_sealed=conversation.title_sealed
        )
        _index_title(conversation, subject_digests(title, detection))
    return title


def _index_title(conversation: Conversation, digests: dict[str, str]) -> None:
    """The title's identifiers in the subject index (rows without a message), in place of
    the last title's: an erasure or access request then finds a conversation that names
    its subject only in the title."""
    SubjectMention.objects.filter(conversation=conversation, message__isnull=True).delete()
    SubjectMention.objects.bulk_create(
        SubjectMention(digest=digest, kind=kind, conversation=conversation, message=None)
        for digest, kind in digests.items()
    )


def delete_conversation(*, conversation: Conversation, actor: User) -> None:
    """Delete a conversation, its messages, its key and its index rows; never one under a
    legal hold, even one placed a moment before.

    See :func:`_unless_held` for how a hold placed a moment before is seen. An answer still
    on its way is stopped, and its stream dropped with the others.
    """
    from privacy import purge

    with transaction.atomic():
        # Read after the holds lock and under the conversation's own (a send takes it): a
        # message sent meanwhile is counted and its answer stopped, as it goes with the rows.
        purge.holds_settled()
        list(Conversation.objects.select_for_update().filter(pk=conversation.pk).values("pk"))
        messages = list(conversation.messages.values_list("public_id", "status"))
        ids = [public_id for public_id, _ in messages]
        in_flight = [public_id for public_id, status in messages if status in Message.IN_FLIGHT]
        _unless_held(
            conversation,
            actor,
            AuditEvent.Action.CHAT_DELETED,
            {"messages": len(ids)},
            refusal=f"{HELD_FOR_NOW} it cannot be deleted. Ask them if you need it gone.",
        )
        SubjectMention.objects.filter(conversation=conversation).delete()
        conversation.delete()
    transaction.on_commit(lambda: _forget_quietly(*ids, stopping=in_flight))


def _unless_held(
    conversation: Conversation, actor: User, action: str, details: dict, *, refusal: str
) -> None:
    """Inside the transaction of an owner's change that a legal hold stops (a delete, a
    rename): record its audit event, or refuse it with ``refusal`` if a hold keeps the
    conversation now, or if it was deleted meanwhile (a second click); a refusal rolls
    the event back with the rest.

    The holds lock comes first (:func:`privacy.purge.holds_settled`): a hold being placed
    commits before, and is seen here; one placed later waits, and is recorded after this
    change. (Taken the other way round, the hold's row lock and this event's chain lock
    deadlocked.)
    """
    from privacy import purge
    from privacy import services as privacy

    purge.holds_settled()
    record(
        action=action,
        actor=actor,
        target=conversation,
        category=conversation.category.name,
        details=details,
    )
    fresh = Conversation.objects.filter(pk=conversation.pk).values("legal_hold").first()
    if fresh is None:
        raise ChatError("This conversation was already deleted.")
    conversation.legal_hold = fresh["legal_hold"]
    if privacy.is_held(conversation):
        raise ChatError(refusal)
