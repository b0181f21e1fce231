"""Running an approved request in the background: erasure or access, then the receipt."""

import logging

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation, SubjectMention
from privacy import archive, erasure, scope
from privacy.models import SubjectRequest
from privacy.services import receipt_hash

log = logging.getLogger(__name__)
S = SubjectRequest.Status


def execute(request_id: int) -> bool:
    """Carry out an approved request; False if another worker has it or it is not approved.

    1. Claim it (APPROVED → EXECUTING, a conditional update that touches one row).
    2. Erase or build the archive, reporting progress on the row.
    3. Write the receipt and its hash, drop the sealed identifiers, record the event.
    A failure marks the request FAILED with the reason, and is recorded too.
    """
    if not SubjectRequest.objects.filter(pk=request_id, status=S.APPROVED).update(
        status=S.EXECUTING, started_at=timezone.now()
    ):
        return False
    request = SubjectRequest.objects.select_related("subject_user").get(pk=request_id)
    try:
        outcome = _carry_out(request)
    except Exception as exc:
        log.exception("Executing %s failed", request.reference)
        with transaction.atomic():
            SubjectRequest.objects.filter(pk=request.pk).update(
                status=S.FAILED, error=f"{type(exc).__name__}: the execution stopped."[:500]
            )
            record(
                action=AuditEvent.Action.DSR_FAILED,
                target=request,
                outcome=AuditEvent.Outcome.FAILURE,
                details={"kind": request.kind, "error": type(exc).__name__},
            )
        return True
    _complete(request, outcome)
    return True


def _carry_out(request: SubjectRequest) -> dict:
    mentioned = (
        SubjectMention.objects.filter(digest__in=request.digests)
        .values("conversation_id")
        .distinct()
        .count()
    )
    owned = (
        Conversation.objects.filter(owner=request.subject_user).count()
        if request.subject_user_id
        else 0
    )
    SubjectRequest.objects.filter(pk=request.pk).update(progress_total=mentioned + owned)

    def progress(done: int) -> None:
        SubjectRequest.objects.filter(pk=request.pk).update(progress_done=done)

    # Who received the data is read before erasure removes the index rows it starts from.
    recipients = scope.recipients(digests=request.digests, subject_user_id=request.subject_user_id)
    if request.kind == SubjectRequest.Kind.ERASURE:
        literals = [value for _, value in request.identifiers()]
        result = erasure.erase(
            digests=request.digests,
            literals=literals,
            subject_user=request.subject_user,
            progress=progress,
        )
        if request.subject_user_id:
            result.account = erasure.erase_account(request.subject_user)
            result.account_withheld = not result.account
        return {"counts": result.as_dict(), "recipients": recipients}
    blob, counts = archive.build(request, progress=progress)
    SubjectRequest.objects.filter(pk=request.pk).update(archive_sealed=blob)
    return {"counts": counts, "recipients": recipients}


def _complete(request: SubjectRequest, outcome: dict) -> None:
    now = timezone.now()
    receipt = {
        "reference": request.reference,
        "kind": request.kind,
        "regime": request.regime,
        "received_on": request.received_on.isoformat(),
        "due_on": request.due_on.isoformat(),
        "verified_at": request.verified_at.isoformat() if request.verified_at else None,
        "scoped_by": _who(request.scoped_by),
        "approved_by": _who(request.approved_by),
        "started_at": request.started_at.isoformat() if request.started_at else None,
        "completed_at": now.isoformat(),
        "subject_digests": request.digests,
        "counts": outcome["counts"],
        "recipients": outcome["recipients"],
    }
    digest = receipt_hash(receipt)
    with transaction.atomic():
        SubjectRequest.objects.filter(pk=request.pk).update(
            status=S.COMPLETED,
            completed_at=now,
            receipt=receipt,
            receipt_hash=digest,
            identifiers_sealed=b"",
        )
        record(
            action=AuditEvent.Action.DSR_EXECUTED,
            target=request,
            details={"kind": request.kind, "receipt_hash": digest, "counts": outcome["counts"]},
        )


def _who(user) -> str | None:
    return user.display_name if user else None
