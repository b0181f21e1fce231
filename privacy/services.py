"""Data-subject requests and legal holds: every step one transaction with its audit event.

The audit trail names a request by its reference and the subject by keyed
hashes only; the identifier itself never reaches it.
"""

import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS
from django.db import IntegrityError, transaction
from django.db.models import Min, Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from chat import index_key
from chat.models import Conversation, SubjectMention
from governance.models import User
from privacy import access, approval_mail, policy, purge, scope
from privacy.models import LegalHold, SubjectRequest

S = SubjectRequest.Status
Ground = SubjectRequest.RejectionGround


class PrivacyError(Exception):
    """A step that may not happen now; the message says why, for a person."""


class FieldRefused(PrivacyError):
    """A step refused for one value the officer gave (``field``: its form field's name): the
    page shows the reason beside that field, not as a message far from it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class IdentifiersMissing(FieldRefused):
    """A follow-up erasure refused: ``missing`` identifiers the first named were not given."""

    def __init__(self, field: str, message: str, *, missing: int) -> None:
        super().__init__(field, message)
        self.missing = missing


class FourEyesError(PrivacyError):
    """The approver is the person who scoped the request."""


#: An intake identical to one recorded this recently is a double submit, refused.
DUPLICATE_WINDOW = dt.timedelta(minutes=10)


# --- intake ----------------------------------------------------------------------------


def receive_request(
    *,
    actor: User,
    kind: str,
    regime: str,
    received_on: dt.date,
    identifiers: list[tuple[str, str]],
    subject_user: User | None = None,
    note: str = "",
    follows: SubjectRequest | None = None,
) -> SubjectRequest:
    """Record a request as received, with its legal due date (``follows``: the completed
    erasure it finishes, whose keyed hashes it reaches too)."""
    identifiers = [(k, v.strip()) for k, v in identifiers if v.strip()]
    if not identifiers:
        raise PrivacyError(
            "Give at least one identifier: an email address, a phone number or a name."
        )
    if received_on > timezone.localdate():
        raise PrivacyError("The received date cannot be in the future.")
    if refused := index_key.refusal():  # its hashes would find nobody, even once mended
        raise PrivacyError(refused)
    # Each identifier once, as the subject index spells it, with its kind.
    kinds = {scope.digest_of(k, v): k for k, v in identifiers}
    digests = set(kinds)
    if follows is not None:
        digests |= set(follows.digests)
    request = SubjectRequest(
        kind=kind,
        regime=regime,
        subject_user=subject_user,
        received_on=received_on,
        due_on=_follow_up_due_on(follows, received_on)
        if follows
        else policy.due_on(policy.REGIMES[regime], received_on),
        digests=sorted(digests),
        note=note,
        created_by=actor,
    )
    request.seal_identifiers(identifiers)
    with transaction.atomic():
        # A double submit comes from one officer: locking their row makes the second wait
        # for the first to commit, then find its request.
        User.objects.select_for_update(no_key=True).filter(pk=actor.pk).first()
        if twin := _recorded_moments_ago(kind=kind, received_on=received_on, digests=digests):
            raise PrivacyError(
                f"This request was already recorded as {twin.reference} at "
                f"{timezone.localtime(twin.created_at):%H:%M}, with the same identifiers, kind "
                "and received date: open it instead of recording it twice."
            )
        for attempt in range(5):
            request.reference = _next_reference(received_on.year, attempt)
            try:
                with transaction.atomic():
                    request.save()
                    record_step(
                        request,
                        actor,
                        AuditEvent.Action.DSR_RECEIVED,
                        {
                            "received_on": received_on.isoformat(),
                            "due_on": request.due_on.isoformat(),
                            # One per identifier: a follow-up erasure asks again for as
                            # many of each kind (_refuse_missing).
                            "identifier_kinds": sorted(kinds.values()),
                            "staff_subject": subject_user is not None,
                            **({"follows": follows.reference} if follows else {}),
                        },
                    )
                return request
            except IntegrityError:
                request.pk = None
        raise PrivacyError("Could not number the request; try again.")


def _recorded_moments_ago(
    *, kind: str, received_on: dt.date, digests: set[str]
) -> SubjectRequest | None:
    """An open request recorded in the last ``DUPLICATE_WINDOW`` for the same identifiers,
    kind and received date: what a double submit of the intake form finds."""
    recent = SubjectRequest.objects.filter(
        kind=kind,
        received_on=received_on,
        status__in=SubjectRequest.OPEN,
        created_at__gte=timezone.now() - DUPLICATE_WINDOW,
    )
    return next((request for request in recent if set(request.digests) == digests), None)


def request_own_data(
    *, user: User, kind: str, regime: str = SubjectRequest.Regime.GDPR
) -> SubjectRequest:
    """A staff member asks for their own data, under the law they chose (its clock differs):
    signed in is identity verified.

    One open request of a kind at a time. The user's row is locked before the check, so
    of two sent at once (a double submit) the second waits for the first to commit, then
    sees its request and is refused.
    """
    with transaction.atomic():
        # FOR NO KEY UPDATE: serialises this check, yet lets rows that point at the user
        # (their messages, audit events) be written meanwhile.
        User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()
        if SubjectRequest.objects.filter(
            subject_user=user, kind=kind, status__in=SubjectRequest.OPEN
        ).exists():
            raise PrivacyError(
                "You already have an open request of this kind; the privacy team is on it."
            )
        request = receive_request(
            actor=user,
            kind=kind,
            regime=regime,
            received_on=timezone.localdate(),
            identifiers=_account_identifiers(user),
            subject_user=user,
            note="Asked for from the account page.",
        )
        request = verify_identity(
            request=request, actor=user, method="Signed in to their own account.", self_service=True
        )
        notices.told_in_steward(request, notices.Topic.RECEIPT)
        return request


def _account_identifiers(user: User) -> list[tuple[str, str]]:
    return [("email", user.email)] + ([("name", user.full_name)] if user.full_name else [])


def _next_reference(year: int, attempt: int) -> str:
    taken = SubjectRequest.objects.filter(reference__startswith=f"DSR-{year}-").count()
    return f"DSR-{year}-{taken + 1 + attempt:04d}"


# --- workflow --------------------------------------------------------------------------


def verify_identity(
    *, request: SubjectRequest, actor: User, method: str, self_service: bool = False
) -> SubjectRequest:
    """Record how the requester's identity was checked."""
    if not method.strip():
        raise PrivacyError("Say how the identity was verified.")
    with transaction.atomic():
        request = _locked(request, S.RECEIVED, "Only a received request can be verified.")
        if not self_service:  # the person signed in as themselves: that is the check
            refuse_the_subject(request, actor)
        request.status = S.VERIFIED
        request.verified_by = None if self_service else actor
        request.verified_at = timezone.now()
        request.verification = method.strip()[:500]
        request.save()
        record_step(request, actor, AuditEvent.Action.DSR_VERIFIED, {"self_service": self_service})
    return request


def scope_request(*, request: SubjectRequest, actor: User, base_url: str = "") -> SubjectRequest:
    """Count what the request reaches (through the indexes) and who received it. Scoped the
    first time, it waits for a second officer: those who may approve it are mailed a link to
    it (``base_url``: the site's address, ``request.build_absolute_uri("/")`` less its "/").
    Scoped again by another officer, the one who scoped it before is asked, who now may."""
    with transaction.atomic():
        request = _locked(request, (S.VERIFIED, S.SCOPED), "Verify the identity before scoping.")
        scoped_before_by_id = request.scoped_by_id if request.status == S.SCOPED else None
        refuse_the_subject(request, actor)
        if refused := index_key.settle():
            raise PrivacyError(refused)
        request.scope = scope.scope_of(
            digests=request.digests, subject_user_id=request.subject_user_id
        )
        request.status = S.SCOPED
        request.scoped_by = actor
        request.scoped_at = timezone.now()
        request.save()
        record_step(request, actor, AuditEvent.Action.DSR_SCOPED, _scope_summary(request.scope))
        if scoped_before_by_id != actor.pk:  # the same officer again: nobody new may approve
            approval_mail.ask_after_commit(
                request,
                scoped_by=actor,
                base_url=base_url,
                scoped_before_by_id=scoped_before_by_id,
            )
    return request


def approve_request(*, request: SubjectRequest, actor: User) -> SubjectRequest:
    """A second privacy officer approves; execution starts after commit. Not while a
    rejection is proposed: the officers settle that first (confirm it, or withdraw it)."""
    from privacy.tasks import execute_request

    with transaction.atomic():
        request = _locked(request, S.SCOPED, "Only a scoped request can be approved.")
        refuse_the_subject(request, actor)
        refusal = policy.second_pair_of_eyes(
            scoped_by_id=request.scoped_by_id, approver_id=actor.pk
        )
        if refusal:
            raise FourEyesError(refusal)
        if request.rejection_proposed:
            raise PrivacyError(
                "A rejection of this request is proposed: confirm or withdraw it before it is "
                "approved."
            )
        request.status = S.APPROVED
        request.approved_by = actor
        request.approved_at = timezone.now()
        request.save()
        record_step(request, actor, AuditEvent.Action.DSR_APPROVED, {})
        pk = request.pk
        transaction.on_commit(lambda: execute_request.delay(pk))
    return request


def propose_rejection(
    *, request: SubjectRequest, actor: User, ground: str, reason: str
) -> SubjectRequest:
    """The first of two officers: propose to close an open request unanswered, on a legal
    ground (``RejectionGround``), which the letter puts in plain words with the person's
    rights. The request stays open, as it was, until another officer confirms the proposal
    (:func:`confirm_rejection`) or someone withdraws it (:func:`withdraw_rejection`); its
    ground and reason wait in ``rejection_ground`` and ``rejected_reason``. Meanwhile it may
    be verified, scoped and extended, but not approved (:func:`approve_request`).

    The reason is written to the requester and often names them: it stays on the request,
    and the audit trail records the ground's code and the reason's length only. A refusal as
    excessive is the controller's to demonstrate (GDPR Art. 12(5), CCPA § 1798.145): with no
    earlier request on record (:func:`earlier_requests`) it is refused beside the ground."""
    if ground not in SubjectRequest.RejectionGround.values:
        raise PrivacyError("Choose the ground in law for refusing the request.")
    if not reason.strip():
        raise PrivacyError("Give the reason for rejecting the request; the requester is told it.")
    with transaction.atomic():
        request = _rejectable(request, actor)
        if request.rejection_proposed:
            proposer = request.rejection_proposed_by
            raise PrivacyError(
                f"{proposer.display_name if proposer else 'An officer'} proposed rejecting this "
                f"request on {request.rejection_proposed_at:%-d %B %Y}: another privacy officer "
                "confirms it, or withdraw it to propose another."
            )
        if ground == Ground.EXCESSIVE and not earlier_requests(request):
            raise FieldRefused("ground", EXCESSIVE_WITHOUT_EVIDENCE)
        request.rejection_ground = ground
        request.rejected_reason = reason.strip()[:500]
        request.rejection_proposed_by = actor
        request.rejection_proposed_at = timezone.now()
        request.save(update_fields=PROPOSAL_FIELDS)
        record_step(
            request,
            actor,
            AuditEvent.Action.DSR_REJECTION_PROPOSED,
            {"ground": ground, "reason_chars": len(request.rejected_reason)},
        )
    return request


def confirm_rejection(
    *, request: SubjectRequest, actor: User, proposed_at: dt.datetime | None
) -> SubjectRequest:
    """The second officer confirms the rejection proposed at ``proposed_at`` (the proposal
    they read), and the request closes unanswered: its identifiers and note go, its answer's
    addressee is sealed until the outcome is told. A refusal as manifestly unfounded or
    excessive names the same person's earlier requests in its event (its evidence)."""
    with transaction.atomic():
        request = _rejectable(request, actor)
        if not request.rejection_proposed:
            raise PrivacyError(
                "Nobody has proposed rejecting this request: propose it, and another privacy "
                "officer confirms."
            )
        if request.rejection_proposed_by_id == actor.pk:
            raise FourEyesError(
                "You proposed rejecting this request: another privacy officer confirms it."
            )
        if proposed_at != request.rejection_proposed_at:
            # Withdrawn and proposed again (another ground, reason or officer) since they read it.
            raise PrivacyError(
                "The proposed rejection has changed since you read it: read it again before you "
                "confirm."
            )
        details = {
            "ground": request.rejection_ground,
            "reason_chars": len(request.rejected_reason),
            "proposed_by": _public_id(request.rejection_proposed_by),
        }
        if request.rejection_ground in (Ground.UNFOUNDED, Ground.EXCESSIVE):
            # Read before the identifiers go.
            details["earlier_requests"] = [
                found.request.reference for found in earlier_requests(request)
            ]
        request.status = S.REJECTED
        request.completed_at = timezone.now()
        request.seal_reply_to()  # where the answer goes: kept until the outcome is told
        request.identifiers_sealed = b""
        request.note = ""
        request.save()
        record_step(request, actor, AuditEvent.Action.DSR_REJECTED, details)
        notices.told_in_steward(request, notices.Topic.OUTCOME)
    return request


def withdraw_rejection(*, request: SubjectRequest, actor: User) -> SubjectRequest:
    """Take back a proposed rejection: the proposer, or an officer who disagrees with it. The
    request goes on where it stood; a rejection on other terms is proposed anew."""
    with transaction.atomic():
        request = _rejectable(request, actor)
        if not request.rejection_proposed:
            raise PrivacyError("Nobody has proposed rejecting this request.")
        proposed_by = request.rejection_proposed_by
        request.rejection_ground = request.rejected_reason = ""
        request.rejection_proposed_by = request.rejection_proposed_at = None
        request.save(update_fields=PROPOSAL_FIELDS)
        record_step(
            request,
            actor,
            AuditEvent.Action.DSR_REJECTION_WITHDRAWN,
            {"proposed_by": _public_id(proposed_by)},
        )
    return request


#: What a proposed rejection writes on its request, and its withdrawal clears.
PROPOSAL_FIELDS = [
    "rejection_ground", "rejected_reason", "rejection_proposed_by", "rejection_proposed_at",
]  # fmt: skip


def _rejectable(request: SubjectRequest, actor: User) -> SubjectRequest:
    """The request, locked, if a rejection may still be proposed, confirmed or withdrawn (its
    execution has not started) and it is not about ``actor``."""
    request = _locked(request, SubjectRequest.REJECTABLE, "This request can no longer be rejected.")
    refuse_the_subject(request, actor)
    return request


#: How far back the same person's earlier requests are counted, before a request's receipt.
EARLIER_REQUESTS_MONTHS = 12
#: Why a refusal as excessive is refused when the same person made no earlier request.
EXCESSIVE_WITHOUT_EVIDENCE = (
    f"No earlier request from the same person is on record in the {EARLIER_REQUESTS_MONTHS} "
    "months before this one was received, so it cannot be shown to be excessive (repetitive). "
    "Choose another ground, or answer the request."
)
#: What the request page shows of each, and what matching them reads.
EARLIER_REQUEST_FIELDS = (
    "public_id", "reference", "kind", "regime", "status", "received_on", "digests",
    "subject_user_id", "rejection_ground", "created_at",
)  # fmt: skip


@dataclass(frozen=True)
class EarlierRequest:
    """Another request of the same person, and how it was found to be theirs: "account"
    (the same staff account), or the kinds of identifier both requests named ("email",
    "phone", "name", "other"; "identifier" once this request's own were dropped)."""

    request: SubjectRequest
    matched_by: tuple[str, ...]


def earlier_requests(request: SubjectRequest) -> list[EarlierRequest]:
    """The same person's other requests received in the 12 months up to this one's receipt
    (that day included), newest first: the evidence for refusing it as excessive.

    The same person: the same staff account, or one of the same keyed hashes (the subject
    index's HMAC of each identifier, kept on every request after it closes). Read from
    those hashes and dates, nothing decrypted but this request's own identifiers, to say
    which kind matched (a name alone may be someone else's). Candidates are few: a year of
    requests, matched here, as on SQLite a JSON list cannot be searched by its items. A
    follow-up erasure's original is the same request carried on, not an earlier one.
    """
    since = policy.add_months(request.received_on, -EARLIER_REQUESTS_MONTHS)
    kinds = {scope.digest_of(kind, value): kind for kind, value in request.identifiers()}
    wanted = set(request.digests)
    candidates = (
        SubjectRequest.objects.filter(received_on__range=(since, request.received_on))
        .exclude(pk=request.pk)
        .exclude(reference__in=_finished(request))
        .only(*EARLIER_REQUEST_FIELDS)
        .order_by("-received_on", "-created_at")
    )
    found = []
    for other in candidates:
        same_account = request.subject_user_id is not None and (
            other.subject_user_id == request.subject_user_id
        )
        shared = {kinds.get(digest, "identifier") for digest in wanted & set(other.digests)}
        if same_account or shared:
            matched_by = ("account",) * same_account + tuple(sorted(shared))
            found.append(EarlierRequest(request=other, matched_by=matched_by))
    return found


def extend_request(*, request: SubjectRequest, actor: User, reason: str) -> SubjectRequest:
    """The one extension the law allows (GDPR two months, CCPA 45 days), with a reason."""
    if not reason.strip():
        raise PrivacyError("An extension needs a reason (the requester must be told why).")
    with transaction.atomic():
        request = _locked(request, SubjectRequest.OPEN, "Only an open request can be extended.")
        refuse_the_subject(request, actor)
        refusal = policy.extension_refusal(
            due=request.due_on, today=timezone.localdate(), extended=request.extended
        )
        if refusal:
            raise PrivacyError(refusal)
        before = request.due_on
        request.due_on = policy.extended_due_on(request.regime_rules, request.received_on)
        request.extended = True
        request.extended_at = timezone.now()
        request.extension_reason = reason.strip()[:500]
        request.save()
        record_step(
            request,
            actor,
            AuditEvent.Action.DSR_EXTENDED,
            {
                "due_on_before": before.isoformat(),
                "due_on": request.due_on.isoformat(),
            },
        )
        notices.told_in_steward(request, notices.Topic.EXTENSION)
    return request


def _locked(request: SubjectRequest, allowed, refusal: str) -> SubjectRequest:
    allowed = (allowed,) if isinstance(allowed, str) else tuple(allowed)
    request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
    if request.status not in allowed:
        raise PrivacyError(refusal)
    return request


def refuse_the_subject(request: SubjectRequest, actor: User) -> None:
    """A privacy officer does not handle a request about themselves (verify, scope, approve,
    reject, extend, run again), linked to their account or naming their email."""
    if access.is_about(request, actor):
        raise PrivacyError("This request is about you: another privacy officer handles it.")


def record_step(request: SubjectRequest, actor, action, details: dict) -> None:
    """A request's audit event: its kind and regime, and ``details``."""
    record(
        action=action,
        actor=actor,
        target=request,
        details={"kind": request.kind, "regime": request.regime, **details},
    )


def _scope_summary(found: dict) -> dict:
    return {
        "mentions": found["mentions"],
        "own": found["own"],
        "held_conversations": found["held_conversations"],
        "recipients": len(found["recipients"]),
    }


# --- receipts ----------------------------------------------------------------------------


def receipt_hash(receipt: dict) -> str:
    """SHA-256 of the receipt's canonical JSON: anyone holding a copy can check it."""
    canonical = json.dumps(receipt, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- legal holds -----------------------------------------------------------------------


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
            raise PrivacyError(
                f"{asker.display_name if asker else 'An officer'} asked to release this hold "
                f"on {hold.release_asked_at:%-d %B %Y}: another privacy officer confirms it."
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


def _public_id(user: User | None) -> str | None:
    """How the trail names an officer in its details (their label can be erased, this not)."""
    return str(user.public_id) if user else None


def _hold_details(hold: LegalHold) -> dict:
    if hold.user_id:
        return {"scope": "person", "user": str(hold.user.public_id)}
    return {"scope": "conversation", "conversation": str(hold.conversation.public_id)}


# --- erasures a legal hold kept from finishing -------------------------------------------


@dataclass(frozen=True)
class LeftBehind:
    """What a completed erasure withheld under a legal hold and is still there.

    The ``free`` part no hold keeps any more: a follow-up erasure removes it. The
    ``held`` part waits for its hold. ``finishing`` is the reference of an open erasure
    that already reaches the same subject, if there is one.
    """

    free_conversations: int = 0
    held_conversations: int = 0
    account_free: bool = False
    account_held: bool = False
    finishing: str = ""

    @property
    def free(self) -> bool:
        return bool(self.free_conversations) or self.account_free


def left_behind(request: SubjectRequest) -> LeftBehind | None:
    """What ``request``, a completed erasure, withheld and is still there; None if nothing.

    Read from what is there now, nothing stored: the conversations it reached (a
    mention of the subject's keyed hashes, or the subject's own) that existed when it
    completed, and the account it kept. Its sealed identifiers were dropped at
    completion; its keyed hashes remain, and the index rows of the conversations it
    withheld were left in place, so they still find them. Once a follow-up erasure (or
    a purge) has removed them, nothing is left behind, for good: what appears later
    is not what it reached.
    """
    return _left_behind_each([request])[request.pk]


def _withheld_something(request: SubjectRequest) -> bool:
    counts = request.receipt.get("counts", {})
    return (
        request.kind == SubjectRequest.Kind.ERASURE
        and request.status == S.COMPLETED
        and request.nothing_left_at is None
        and bool(counts.get("withheld_conversations") or counts.get("account_withheld"))
    )


def _left_behind_each(requests: list[SubjectRequest]) -> dict[int, LeftBehind | None]:
    """:func:`left_behind` of each request, by pk, in the same few queries however many.

    1. Read once the index rows of all their keyed hashes and the conversations all
       their subjects own, as they were by the last completion.
    2. Read once which of those conversations a hold keeps, which subjects are held,
       and the open erasures.
    3. For each request, keep what it reached by its own completion.
    """
    found: dict[int, LeftBehind | None] = {request.pk: None for request in requests}
    withheld = [request for request in requests if _withheld_something(request)]
    if not withheld:
        return found
    until = max(request.completed_at for request in withheld)
    digests = sorted({digest for request in withheld for digest in request.digests})
    subjects = {request.subject_user_id for request in withheld if request.subject_user_id}

    index_rows = (
        SubjectMention.objects.filter(digest__in=digests, created_at__lte=until)
        .order_by()
        .values_list("digest", "conversation_id")
        .annotate(first=Min("created_at"))
    )
    mentioned: dict[str, list[tuple[int, dt.datetime]]] = defaultdict(list)
    for digest, conversation_id, first in index_rows:
        mentioned[digest].append((conversation_id, first))
    owned: dict[int, list[tuple[int, dt.datetime]]] = defaultdict(list)
    if subjects:
        for pk, owner_id, created_at in Conversation.objects.filter(
            owner_id__in=subjects, created_at__lte=until
        ).values_list("pk", "owner_id", "created_at"):
            owned[owner_id].append((pk, created_at))
    reached_any = Q(
        pk__in=SubjectMention.objects.filter(digest__in=digests, created_at__lte=until).values(
            "conversation_id"
        )
    ) | Q(owner_id__in=subjects, created_at__lte=until)
    held = (
        set(purge.held(Conversation.objects.filter(reached_any)).values_list("pk", flat=True))
        if mentioned or owned
        else set()
    )
    accounts = {request.subject_user_id for request in withheld if _account_kept(request)}
    held_people = purge.people_held(accounts) if accounts else set()
    open_erasures = None

    for request in withheld:
        reached = {
            conversation_id
            for digest in request.digests
            for conversation_id, first in mentioned.get(digest, ())
            if first <= request.completed_at
        } | {
            conversation_id
            for conversation_id, created_at in owned.get(request.subject_user_id, ())
            if created_at <= request.completed_at
        }
        account = _account_kept(request)
        if not reached and not account:
            continue
        if open_erasures is None:
            open_erasures = list(
                SubjectRequest.objects.filter(
                    kind=SubjectRequest.Kind.ERASURE, status__in=SubjectRequest.OPEN
                ).values_list("reference", "digests")
            )
        wanted = set(request.digests)
        account_held = account and request.subject_user_id in held_people
        found[request.pk] = LeftBehind(
            free_conversations=len(reached - held),
            held_conversations=len(reached & held),
            account_free=account and not account_held,
            account_held=account_held,
            finishing=next(
                (reference for reference, other in open_erasures if wanted <= set(other)), ""
            ),
        )
    return found


def _account_kept(request: SubjectRequest) -> bool:
    """Whether the erasure withheld the subject's account and it is still there."""
    user = request.subject_user
    return (
        bool(request.receipt.get("counts", {}).get("account_withheld"))
        and user is not None
        and not user.is_erased
    )


def erasures_to_finish() -> list[tuple[SubjectRequest, LeftBehind]]:
    """Completed erasures that withheld content under a legal hold since released, with
    what each left behind, oldest first: the privacy desk lists them.

    One found to have left nothing behind is marked so, and not looked at again.
    """
    withheld = Q(receipt__counts__withheld_conversations__gt=0) | Q(
        receipt__counts__account_withheld=True
    )
    candidates = list(
        SubjectRequest.objects.listed()
        .filter(kind=SubjectRequest.Kind.ERASURE, status=S.COMPLETED, nothing_left_at=None)
        .filter(withheld)
        .select_related("subject_user")
        .order_by("completed_at")
    )
    left = _left_behind_each(candidates)
    if settled := [request.pk for request in candidates if left[request.pk] is None]:
        SubjectRequest.objects.filter(pk__in=settled).update(nothing_left_at=timezone.now())
    return [
        (request, left[request.pk])
        for request in candidates
        if left[request.pk] is not None and left[request.pk].free
    ]


def finish_erasure(
    *,
    request: SubjectRequest,
    actor: User,
    identifiers: list[tuple[str, str]] | None = None,
) -> SubjectRequest:
    """Record the erasure of what ``request`` withheld under a legal hold since released.

    1. Refused unless the completed erasure left something no hold keeps now, and while
       an open erasure already reaches the same subject.
    2. The new request reaches what the first did (its keyed hashes), and erases in the
       text the identifiers given now. Those typed for the first were dropped when it
       closed: for a staff member whose account was kept, the account's are used too.
       Together they must be every identifier the first named, or one left out would stay
       wherever only its words find it (a name no detector found) while the letter says it
       is erased: what is missing is refused beside its field (:func:`_refuse_missing`).
    3. Its identity counts as verified by the first. It is scoped and approved like any
       request (four eyes).
    4. Its clock (:func:`_follow_up_due_on`): the person asked once, with the first
       request, so while the first is not yet due the follow-up is due by the same day.
       Once that day has passed, it is due as a request received today: the hold was
       lawful and the delay it made justified; erasing is owed without undue delay from
       the release, and the law's time to answer a request bounds that. Its note names
       the request it finishes and the day that one was received.

    A refusal for a missing identifier is recorded (how many, never what was tried): each
    says whether what was given is the one the first named.
    """
    try:
        return _finish_erasure(request, actor, identifiers)
    except IdentifiersMissing as refused:
        with transaction.atomic():
            record_step(
                request,
                actor,
                AuditEvent.Action.DSR_FOLLOW_UP_REFUSED,
                {"missing": refused.missing},
            )
        raise


def _finish_erasure(
    request: SubjectRequest, actor: User, identifiers: list[tuple[str, str]] | None
) -> SubjectRequest:
    with transaction.atomic():
        original = _locked(request, S.COMPLETED, "Only a completed erasure can be finished.")
        left = left_behind(original)
        if left is None or not left.free:
            raise PrivacyError(
                "Nothing this erasure left behind is free to erase: it is gone, or still "
                "under a legal hold."
            )
        if left.finishing:
            raise PrivacyError(
                f"{left.finishing} is open and already erases what this one left behind."
            )
        given = [(kind, value.strip()) for kind, value in identifiers or [] if value.strip()]
        user = original.subject_user
        from_account = _account_identifiers(user) if user and not user.is_erased else []
        identifiers = list(dict.fromkeys(given + from_account))
        _refuse_missing(original, identifiers=identifiers, typed=given)
        received = original.received_on
        follow_up = receive_request(
            actor=actor,
            kind=SubjectRequest.Kind.ERASURE,
            regime=original.regime,
            received_on=timezone.localdate(),
            identifiers=identifiers,
            subject_user=user,
            note=f"Finishes {original.reference}, received on {received.day} {received:%B %Y}: "
            "what it withheld under a legal hold since released.",
            follows=original,
        )
        return verify_identity(
            request=follow_up,
            actor=actor,
            method=f"Verified for {original.reference}, which this request finishes.",
        )


def _follow_up_due_on(original: SubjectRequest, received_on: dt.date) -> dt.date:
    """When a follow-up of ``original`` recorded on ``received_on`` is due: by the first's due
    date while that has not passed (an extension of the first not carried past the
    follow-up's own clock), otherwise as a request received that day (:func:`finish_erasure`)."""
    own = policy.due_on(original.regime_rules, received_on)
    return min(original.due_on, own) if original.due_on >= received_on else own


#: Each kind of identifier as a refusal names one, and several, in the finish form's order.
IDENTIFIER_WORDS = {
    "email": ("email address", "email addresses"),
    "phone": ("phone number", "phone numbers"),
    "name": ("name", "names"),
    "other": ("other identifier", "other identifiers"),
}


def _refuse_missing(
    original: SubjectRequest,
    *,
    identifiers: list[tuple[str, str]],
    typed: list[tuple[str, str]],
) -> None:
    """Refuse a follow-up of ``original`` unless ``identifiers`` match each of its keyed
    hashes; the refusal goes beside the field of the first kind missing, with how many of it
    (``typed``: those the officer gave, of which one may be spelled otherwise than before).

    The hashes say how many are missing, not of which kind, nor what they were. The kinds
    come from the first's receipt event, one per identifier it named: a kind of which fewer
    match now than it named is missing that many. When those add up to the hashes missing,
    the refusal names each kind and its count ("1 email address (of 2)"); otherwise (the
    trail no longer holds the event, or it was recorded when the event named each kind once)
    it gives their number only.
    """
    wanted = set(original.digests)
    found = {scope.digest_of(kind, value): kind for kind, value in identifiers}
    missing = wanted - set(found)
    if not missing:
        return
    named = _identifiers_named(original)
    matched = Counter(kind for digest, kind in found.items() if digest in wanted)
    short = {kind: named[kind] - matched[kind] for kind in IDENTIFIER_WORDS}
    short = {kind: number for kind, number in short.items() if number > 0}
    if sum(short.values()) != len(missing):
        raise IdentifiersMissing(
            next(iter(short), NON_FIELD_ERRORS),
            f"The original erasure also named {purge.counted(len(missing), 'identifier')} not "
            f"given here: give every identifier it named as it was given for "
            f"{original.reference}.",
            missing=len(missing),
        )
    missed, asked = [], []
    for kind, number in short.items():
        of = named[kind]
        missed.append(_counted(kind, number) + (f" (of {of})" if of > number else ""))
        asked.append(
            IDENTIFIER_WORDS[kind][0] if of == 1 else f"{_counted(kind, of)} (one per line)"
        )
    alone = len(short) == 1 and named[next(iter(short))] == 1
    refusal = (
        f"The original erasure also named {_listed(missed)} not given here: give the "
        f"subject's {_listed(asked)} as {'it was' if alone else 'they were'} given for "
        f"{original.reference}."
    )
    refusal += "".join(f" {said}" for said in _not_named(typed, wanted, named, short))
    raise IdentifiersMissing(next(iter(short)), refusal, missing=len(missing))


def _not_named(
    typed: list[tuple[str, str]], wanted: set[str], named: Counter, short: dict[str, int]
) -> list[str]:
    """What the officer typed of each kind still ``short`` that the first did not name, in
    words ("The name given here is not the one it named."), never the value."""
    given = {scope.digest_of(kind, value): kind for kind, value in typed}
    each = Counter(given.values())
    other = Counter(kind for digest, kind in given.items() if digest not in wanted)
    said = []
    for kind in short:
        one, several = IDENTIFIER_WORDS[kind]
        if not other[kind]:
            continue
        if each[kind] == 1:
            the_one = "the one" if named[kind] == 1 else "one"
            said.append(f"The {one} given here is not {the_one} it named.")
        else:
            verb = "is" if other[kind] == 1 else "are"
            said.append(
                f"{other[kind]} of the {each[kind]} {several} given here {verb} not among "
                "those it named."
            )
    return said


def _counted(kind: str, number: int) -> str:
    """``number`` identifiers of ``kind`` in words: "1 email address", "2 email addresses"."""
    one, several = IDENTIFIER_WORDS[kind]
    return f"{number} {one if number == 1 else several}"


def _identifiers_named(request: SubjectRequest) -> Counter:
    """How many identifiers of each kind ``request`` was received with, as its receipt event
    records them (one kind each); none if the trail no longer holds it."""
    return Counter(_as_received(request, "identifier_kinds") or ())


def _as_received(request: SubjectRequest, detail: str):
    """``detail`` of ``request``'s receipt event (None if the trail does not hold it)."""
    return (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.DSR_RECEIVED,
            target_type=SubjectRequest._meta.label_lower,
            target_id=str(request.public_id),
        )
        .values_list(f"details__{detail}", flat=True)
        .first()
    )


def _finished(request: SubjectRequest) -> set[str]:
    """The references of the requests ``request`` finishes, a follow-up erasure's original
    and that one's, as their receipt events name them."""
    found: set[str] = set()
    while (original := _as_received(request, "follows")) and original not in found:
        found.add(original)
        request = SubjectRequest.objects.filter(reference=original).only("public_id").first()
        if request is None:
            break
    return found


def _listed(words: list[str]) -> str:
    """Words joined as a sentence lists them: "a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


# --- purges ------------------------------------------------------------------------------

PURGE_TASK_NAME = "retention-purge"


def start_purge(*, actor: User):
    """A privacy officer's "Purge now": opened here (refused while one runs), run by a worker."""
    from privacy import purge
    from privacy.tasks import purge_expired

    try:
        run = purge.start(actor=actor)
    except purge.PurgeBusy as exc:
        raise PrivacyError(f"{exc} Wait for it to finish.") from None
    transaction.on_commit(lambda: purge_expired.delay(run.pk))
    return run


def purge_schedule():
    """The beat row that runs the purge (None if someone deleted it)."""
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask.objects.select_related("crontab").filter(name=PURGE_TASK_NAME).first()


def set_purge_schedule(*, actor: User, hour: int, minute: int, enabled: bool):
    """Move the daily purge to ``hour:minute`` UTC, or pause it; beat picks the change up."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    with transaction.atomic():
        task = purge_schedule()
        before = _schedule_dict(task)
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(minute),
            hour=str(hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        if task is None:
            task = PeriodicTask(
                name=PURGE_TASK_NAME, task="privacy.tasks.purge_expired", queue="maintenance"
            )
        task.crontab = crontab
        task.enabled = enabled
        task.save()
        record(
            action=AuditEvent.Action.RETENTION_SCHEDULE_CHANGED,
            actor=actor,
            before=before,
            after=_schedule_dict(task),
        )
    return task


def schedule_label(task) -> str:
    """How a person reads the purge schedule: "daily at 02:30 UTC", or that it is paused."""
    described = _schedule_dict(task)
    if described is None:
        return "only when started by hand (no schedule yet: save a time)"
    if not described["enabled"]:
        return "only when started by hand (the schedule is paused)"
    return f"daily at {described['time']}"


def _schedule_dict(task) -> dict | None:
    if task is None or task.crontab is None:
        return None
    hour, minute = task.crontab.hour, task.crontab.minute
    if hour.isdigit() and minute.isdigit():
        return {"time": f"{int(hour):02d}:{int(minute):02d} UTC", "enabled": task.enabled}
    return {"time": f"cron {minute} {hour}", "enabled": task.enabled}


# Last: telling the requester builds on this module's steps, and its steps tell them.
from privacy import notices  # noqa: E402
