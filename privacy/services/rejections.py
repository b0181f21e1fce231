"""Rejecting a request, four eyes: one officer proposes it on a ground in law, another
confirms it (or someone withdraws it); a refusal as excessive needs the same person's
earlier requests on record."""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import User
from privacy import policy, scope
from privacy.models import SubjectRequest
from privacy.services.common import (
    FieldRefused,
    FourEyesError,
    Ground,
    PrivacyError,
    S,
    _locked,
    _public_id,
    record_step,
    refuse_the_subject,
)
from privacy.services.identifiers import _finished


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
            proposed_on = timezone.localdate(request.rejection_proposed_at)
            raise PrivacyError(
                f"{proposer.display_name if proposer else 'An officer'} proposed rejecting this "
                f"request on {proposed_on:%-d %B %Y}: another privacy officer "
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


# Last: telling the requester builds on this module's steps, and its steps tell them.
from privacy import notices  # noqa: E402
