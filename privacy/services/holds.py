"""Legal holds: placed by one officer, released by two (one asks, another confirms)."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation
from governance.models import User
from privacy import purge
from privacy.models import LegalHold
from privacy.services.common import PrivacyError, _public_id
from privacy.services.follow_ups import erasures_to_finish


def place_hold(
    *, actor: User, reason: str, user: User | None = None, conversation: Conversation | None = None
) -> LegalHold:
    """Keep a person's (or one conversation's) content past retention and erasure until released."""
    if not reason.strip():
        raise PrivacyError("A legal hold needs a reason (the matter or case it is for).")
    if (user is None) == (conversation is None):
        raise PrivacyError("Hold either a person or one conversation.")
    with transaction.atomic():
        purge.holds_settled(placing=True)
        hold = LegalHold.objects.create(
            user=user, conversation=conversation, reason=reason.strip()[:500], placed_by=actor
        )
        if conversation is not None:
            Conversation.objects.filter(pk=conversation.pk).update(legal_hold=True)
        record(
            action=AuditEvent.Action.HOLD_PLACED,
            actor=actor,
            target=hold,
            details=_hold_details(hold),
        )
    return hold


def ask_release(*, hold: LegalHold, actor: User, reason: str) -> LegalHold:
    """The first of two officers: ask to release a hold, saying why. It stays active until
    another officer confirms (:func:`release_hold`) or someone withdraws the ask."""
    if not reason.strip():
        raise PrivacyError("Say why the hold is released.")
    with transaction.atomic():
        hold = _hold_to_release(hold, actor)
        if hold.release_asked:
            asker = hold.release_asked_by
            asked_on = timezone.localdate(hold.release_asked_at)
            raise PrivacyError(
                f"{asker.display_name if asker else 'An officer'} asked to release this hold "
                f"on {asked_on:%-d %B %Y}: another privacy officer confirms it."
            )
        hold.release_asked_by = actor
        hold.release_asked_at = timezone.now()
        hold.release_reason = reason.strip()[:500]
        hold.save(update_fields=["release_asked_by", "release_asked_at", "release_reason"])
        record(
            action=AuditEvent.Action.HOLD_RELEASE_ASKED,
            actor=actor,
            target=hold,
            # Its length only: free text may name people, and the trail is never erased.
            details={**_hold_details(hold), "reason_chars": len(hold.release_reason)},
        )
    return hold


def withdraw_release(*, hold: LegalHold, actor: User) -> LegalHold:
    """Take back an ask to release: the asker, or an officer who disagrees with it."""
    with transaction.atomic():
        hold = _hold_to_release(hold, actor)
        if not hold.release_asked:
            raise PrivacyError("Nobody has asked to release this hold.")
        asked_by = hold.release_asked_by
        hold.release_asked_by = hold.release_asked_at = None
        hold.release_reason = ""
        hold.save(update_fields=["release_asked_by", "release_asked_at", "release_reason"])
        record(
            action=AuditEvent.Action.HOLD_RELEASE_WITHDRAWN,
            actor=actor,
            target=hold,
            details={**_hold_details(hold), "asked_by": _public_id(asked_by)},
        )
    return hold


def release_hold(*, hold: LegalHold, actor: User, asked_at: dt.datetime | None) -> LegalHold:
    """The second officer confirms the ask to release made at ``asked_at`` (the one they
    read), and the hold ends. The completed erasures that withheld content under it and may
    now finish are named in its event (and listed by :func:`erasures_to_finish`)."""
    with transaction.atomic():
        # Alone, as placing one is: a release that looked for the conversation's other
        # holds while one was being placed (or released) saw the wrong set.
        purge.holds_settled(placing=True)
        hold = _hold_to_release(hold, actor)
        if not hold.release_asked:
            raise PrivacyError("Ask to release it first: another privacy officer confirms.")
        if hold.release_asked_by_id == actor.pk:
            raise PrivacyError(
                "You asked to release this hold: another privacy officer confirms it."
            )
        if asked_at != hold.release_asked_at:
            # Withdrawn and asked again (another reason, another officer) since they read it.
            raise PrivacyError(
                "The ask to release this hold has changed since you read it: read it again "
                "before you confirm."
            )
        free_before = {request.pk: left for request, left in erasures_to_finish()}
        hold.released_by = actor
        hold.released_at = timezone.now()
        hold.save(update_fields=["released_by", "released_at"])
        if (
            hold.conversation_id
            and not LegalHold.objects.filter(
                conversation_id=hold.conversation_id, released_at__isnull=True
            ).exists()
        ):
            Conversation.objects.filter(pk=hold.conversation_id).update(legal_hold=False)
        freed = [
            request.reference
            for request, left in erasures_to_finish()
            if free_before.get(request.pk) != left
        ]
        record(
            action=AuditEvent.Action.HOLD_RELEASED,
            actor=actor,
            target=hold,
            details={
                **_hold_details(hold),
                "asked_by": _public_id(hold.release_asked_by),
                "reason_chars": len(hold.release_reason),
                "erasures_to_finish": freed,
            },
        )
    return hold


def _hold_to_release(hold: LegalHold, actor: User) -> LegalHold:
    """The hold, locked, if it is active and not about ``actor``."""
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if not hold.active:
        raise PrivacyError("This hold was already released.")
    if hold.is_about(actor):
        raise PrivacyError("This hold is about you: other privacy officers release it.")
    return hold


def is_held(conversation: Conversation) -> bool:
    """Whether a conversation may not be deleted now (its own hold or its owner's)."""
    return conversation.legal_hold or purge.person_held(conversation.owner_id)


def _hold_details(hold: LegalHold) -> dict:
    if hold.user_id:
        return {"scope": "person", "user": str(hold.user.public_id)}
    return {"scope": "conversation", "conversation": str(hold.conversation.public_id)}
