"""The mail that asks for a request's second approval: once scoped, a request waits for
another privacy officer, who otherwise learns of it only by opening the privacy desk."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from governance.access import role_holders
from governance.models import User
from governance.roles import Role
from privacy import access
from privacy.models import SubjectRequest

log = logging.getLogger(__name__)


def approvers(request: SubjectRequest) -> list[str]:
    """The addresses of the active privacy officers who may approve ``request``: not the one
    who scoped it, nor one it is about (:func:`privacy.access.yours_to_approve`)."""
    return [
        officer.email
        for officer in role_holders(Role.PRIVACY_OFFICER)
        if officer.email and access.yours_to_approve(request, officer)
    ]


def ask_after_commit(request: SubjectRequest, *, scoped_by: User, base_url: str) -> None:
    """Once the scope is committed, mail the officers who may approve ``request`` its
    reference, kind, regime, due date and a link to it, never who it is about. The scope
    stands whatever the mail does: a failure is logged, with the exception's type only (its
    text may quote the addresses)."""

    def send() -> None:
        to = approvers(request)
        if not to:
            log.warning(
                "%s waits for a second privacy officer's approval, and there is no other "
                "active privacy officer to ask.",
                request.reference,
            )
            return
        link = base_url + reverse("privacy:request", args=[request.public_id])
        context = {
            "request": request,
            "scoped_by": scoped_by,
            "days_left": request.days_left(timezone.localdate()),
            "link": link,
        }
        try:
            send_mail(
                subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{request.reference} waits for "
                "your approval",
                message=render_to_string("privacy/email/approval_asked.txt", context),
                from_email=None,
                recipient_list=to,
            )
        except Exception as exc:  # smtplib's errors, and a mail service library's own
            log.warning(
                "The privacy officers were not asked to approve %s (%s): it is on their "
                "privacy desk.",
                request.reference,
                type(exc).__name__,
            )

    transaction.on_commit(send)
