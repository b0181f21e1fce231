"""Data-subject requests and legal holds: every step one transaction with its audit event.

The audit trail names a request by its reference and the subject by keyed
hashes only; the identifier itself never reaches it.
"""

import datetime as dt
import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation
from governance.models import User
from privacy import policy, purge, scope
from privacy.models import LegalHold, SubjectRequest

S = SubjectRequest.Status


class PrivacyError(Exception):
    """A step that may not happen now; the message says why, for a person."""


class FourEyesError(PrivacyError):
    """The approver is the person who scoped the request."""


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
) -> SubjectRequest:
    """Record a request as received, with its legal due date."""
    identifiers = [(k, v.strip()) for k, v in identifiers if v.strip()]
    if not identifiers:
        raise PrivacyError(
            "Give at least one identifier: an email address, a phone number or a name."
        )
    if received_on > timezone.localdate():
        raise PrivacyError("The received date cannot be in the future.")
    request = SubjectRequest(
        kind=kind,
        regime=regime,
        subject_user=subject_user,
        received_on=received_on,
        due_on=policy.due_on(policy.REGIMES[regime], received_on),
        digests=sorted({scope.digest_of(k, v) for k, v in identifiers}),
        note=note,
        created_by=actor,
    )
    request.seal_identifiers(identifiers)
    for attempt in range(5):
        request.reference = _next_reference(received_on.year, attempt)
        try:
            with transaction.atomic():
                request.save()
                _record(
                    request,
                    actor,
                    AuditEvent.Action.DSR_RECEIVED,
                    {
                        "received_on": received_on.isoformat(),
                        "due_on": request.due_on.isoformat(),
                        "identifier_kinds": sorted({k for k, _ in identifiers}),
                        "staff_subject": subject_user is not None,
                    },
                )
            return request
        except IntegrityError:
            request.pk = None
    raise PrivacyError("Could not number the request; try again.")


def request_own_data(*, user: User, kind: str) -> SubjectRequest:
    """A staff member asks for their own data: signed in is identity verified."""
    if SubjectRequest.objects.filter(
        subject_user=user, kind=kind, status__in=SubjectRequest.OPEN
    ).exists():
        raise PrivacyError(
            "You already have an open request of this kind; the privacy team is on it."
        )
    identifiers = [("email", user.email)] + ([("name", user.full_name)] if user.full_name else [])
    request = receive_request(
        actor=user,
        kind=kind,
        regime=SubjectRequest.Regime.GDPR,
        received_on=timezone.localdate(),
        identifiers=identifiers,
        subject_user=user,
        note="Asked for from the account page.",
    )
    return verify_identity(
        request=request, actor=user, method="Signed in to their own account.", self_service=True
    )


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
        request.status = S.VERIFIED
        request.verified_by = None if self_service else actor
        request.verified_at = timezone.now()
        request.verification = method.strip()[:500]
        request.save()
        _record(request, actor, AuditEvent.Action.DSR_VERIFIED, {"self_service": self_service})
    return request


def scope_request(*, request: SubjectRequest, actor: User) -> SubjectRequest:
    """Count what the request reaches (through the indexes) and who received it."""
    with transaction.atomic():
        request = _locked(request, (S.VERIFIED, S.SCOPED), "Verify the identity before scoping.")
        request.scope = scope.scope_of(
            digests=request.digests, subject_user_id=request.subject_user_id
        )
        request.status = S.SCOPED
        request.scoped_by = actor
        request.scoped_at = timezone.now()
        request.save()
        _record(request, actor, AuditEvent.Action.DSR_SCOPED, _scope_summary(request.scope))
    return request


def approve_request(*, request: SubjectRequest, actor: User) -> SubjectRequest:
    """A second privacy officer approves; execution starts after commit."""
    from privacy.tasks import execute_request

    with transaction.atomic():
        request = _locked(request, S.SCOPED, "Only a scoped request can be approved.")
        refusal = policy.second_pair_of_eyes(
            scoped_by_id=request.scoped_by_id, approver_id=actor.pk
        )
        if refusal:
            raise FourEyesError(refusal)
        request.status = S.APPROVED
        request.approved_by = actor
        request.approved_at = timezone.now()
        request.save()
        _record(request, actor, AuditEvent.Action.DSR_APPROVED, {})
        pk = request.pk
        transaction.on_commit(lambda: execute_request.delay(pk))
    return request


def reject_request(*, request: SubjectRequest, actor: User, reason: str) -> SubjectRequest:
    if not reason.strip():
        raise PrivacyError("Give the reason for rejecting the request; the requester is told it.")
    with transaction.atomic():
        request = _locked(
            request,
            (S.RECEIVED, S.VERIFIED, S.SCOPED, S.APPROVED),
            "This request can no longer be rejected.",
        )
        request.status = S.REJECTED
        request.rejected_reason = reason.strip()[:500]
        request.completed_at = timezone.now()
        request.identifiers_sealed = b""
        request.save()
        _record(request, actor, AuditEvent.Action.DSR_REJECTED, {"reason": request.rejected_reason})
    return request


def extend_request(*, request: SubjectRequest, actor: User, reason: str) -> SubjectRequest:
    """The one extension the law allows (GDPR two months, CCPA 45 days), with a reason."""
    if not reason.strip():
        raise PrivacyError("An extension needs a reason (the requester must be told why).")
    with transaction.atomic():
        request = _locked(request, SubjectRequest.OPEN, "Only an open request can be extended.")
        if request.extended:
            raise PrivacyError(
                "This request has already been extended once; the law allows no more."
            )
        before = request.due_on
        request.due_on = policy.extended_due_on(request.regime_rules, request.due_on)
        request.extended = True
        request.extension_reason = reason.strip()[:500]
        request.save()
        _record(
            request,
            actor,
            AuditEvent.Action.DSR_EXTENDED,
            {
                "due_on_before": before.isoformat(),
                "due_on": request.due_on.isoformat(),
            },
        )
    return request


def _locked(request: SubjectRequest, allowed, refusal: str) -> SubjectRequest:
    allowed = (allowed,) if isinstance(allowed, str) else tuple(allowed)
    request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
    if request.status not in allowed:
        raise PrivacyError(refusal)
    return request


def _record(request: SubjectRequest, actor, action, details: dict) -> None:
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


def release_hold(*, hold: LegalHold, actor: User, reason: str) -> LegalHold:
    if not reason.strip():
        raise PrivacyError("Say why the hold is released.")
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
        if not hold.active:
            raise PrivacyError("This hold was already released.")
        hold.released_by = actor
        hold.released_at = timezone.now()
        hold.release_reason = reason.strip()[:500]
        hold.save()
        if (
            hold.conversation_id
            and not LegalHold.objects.filter(
                conversation_id=hold.conversation_id, released_at__isnull=True
            ).exists()
        ):
            Conversation.objects.filter(pk=hold.conversation_id).update(legal_hold=False)
        record(
            action=AuditEvent.Action.HOLD_RELEASED,
            actor=actor,
            target=hold,
            details={**_hold_details(hold), "reason": hold.release_reason},
        )
    return hold


def is_held(conversation: Conversation) -> bool:
    """Whether a conversation may not be deleted now (its own hold or its owner's)."""
    return conversation.legal_hold or purge.person_held(conversation.owner_id)


def _hold_details(hold: LegalHold) -> dict:
    if hold.user_id:
        return {"scope": "person", "user": str(hold.user.public_id)}
    return {"scope": "conversation", "conversation": str(hold.conversation.public_id)}


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
