"""A request's steps to its answer: identity verified, scope counted, four-eyes approval,
and the one extension the law allows."""

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from chat import index_key
from governance.models import User
from privacy import approval_mail, policy, scope
from privacy.models import SubjectRequest
from privacy.services.common import (
    FourEyesError,
    PrivacyError,
    S,
    _locked,
    record_step,
    refuse_the_subject,
)


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


def _scope_summary(found: dict) -> dict:
    return {
        "mentions": found["mentions"],
        "own": found["own"],
        "held_conversations": found["held_conversations"],
        "recipients": len(found["recipients"]),
    }


# Last: telling the requester builds on this module's steps, and its steps tell them.
from privacy import notices  # noqa: E402
