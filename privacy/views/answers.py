"""A request's answer: its receipt and access archive (each download recorded in the
trail), and the letter to the requester."""

import json
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from audit import personal
from audit.models import AuditEvent
from config.asked_here import asked_here
from config.downloads import attachment
from privacy import access, archive, disclosure, recipients
from privacy.models import SubjectRequest
from privacy.views.common import _go


def _visible(request: HttpRequest, public_id: UUID) -> None:
    """404 for a request this person may not see: before asking whether to download."""
    access.get_request_for_user(request.user, public_id)


@require_GET
@login_required
@asked_here("download this request's receipt", button="Download receipt", check=_visible)
def request_receipt(request: HttpRequest, public_id: UUID) -> HttpResponse:
    subject_request = access.get_request_for_user(request.user, public_id)
    if not subject_request.receipt_hash:  # until then, the receipt is a partial record
        return _not_ready(
            request, subject_request, "The receipt is written when the request completes."
        )
    body = json.dumps(
        {"receipt": subject_request.receipt, "sha256": subject_request.receipt_hash}, indent=2
    )
    archive.record_download(subject_request, request.user, "receipt")
    return attachment(
        body, filename=f"{subject_request.reference}-receipt.json", content_type="application/json"
    )


@require_GET
@login_required
@asked_here("download this request's access archive", button="Download archive", check=_visible)
def request_archive(request: HttpRequest, public_id: UUID) -> HttpResponse:
    subject_request = access.get_request_for_user(request.user, public_id)
    refusal = archive.download_refusal(subject_request, request.user)
    if refusal:
        return _not_ready(request, subject_request, refusal)
    blob = archive.open_archive(subject_request)
    archive.record_download(subject_request, request.user, "archive")
    return attachment(
        blob, filename=f"{subject_request.reference}.zip", content_type="application/zip"
    )


@require_GET
@login_required
def request_letter(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The answer to the requester, in words, to print or send: what was asked, what was
    done (or why not), what was kept and why, who received their data, their rights, and
    the receipt's hash."""
    subject_request = access.get_request_for_user(request.user, public_id)
    if subject_request.is_open:
        return _not_ready(
            request, subject_request, "The letter is written once the request is answered."
        )
    receipt = subject_request.receipt or {}
    context = {
        "req": subject_request,
        "follows": _follows(subject_request),
        "counts": receipt.get("counts", {}),
        "contact": settings.STEWARD_PRIVACY_CONTACT,
        "recipients": disclosure.recipients_told(receipt.get("recipients", [])),
        "erasure_recipients": recipients.of_erasure(subject_request),
        # The person it is about reads it as theirs, even when they are a privacy officer.
        "officer": access.is_officer(request.user)
        and not access.is_about(subject_request, request.user),
        "audit_names_since": personal.first_pseudonymised(),
        "audit_days": settings.STEWARD_AUDIT_PERSONAL_DAYS,
    }
    return render(request, "privacy/letter.html", context)


def _follows(subject_request: SubjectRequest) -> SubjectRequest | None:
    """The erasure a follow-up finishes (its receipt event names it), if it is one."""
    reference = (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.DSR_RECEIVED,
            target_type=SubjectRequest._meta.label_lower,
            target_id=str(subject_request.public_id),
        )
        .values_list("details__follows", flat=True)
        .first()
    )
    return SubjectRequest.objects.filter(reference=reference).first() if reference else None


def _not_ready(request, subject_request, message: str) -> HttpResponse:
    messages.error(request, message)
    return _go(request, reverse("privacy:request", args=[subject_request.public_id]))
