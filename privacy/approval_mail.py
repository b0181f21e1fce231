"""The mail that asks for a request's second approval: once scoped, a request waits for
another privacy officer, who otherwise learns of it only by opening the privacy desk."""

import logging

from django.urls import reverse
from django.utils import timezone

from config.mail import mail_after_commit
from governance.access import role_holders
from governance.models import User
from governance.roles import Role
from privacy import access
from privacy.models import SubjectRequest

log = logging.getLogger(__name__)

_NOBODY = (
    "%s waits for a second privacy officer's approval, and there is no other active privacy "
    "officer to ask."
)
_SCOPED_AGAIN_NOBODY = (
    "%s was scoped again by another privacy officer, and the one who scoped it before cannot "
    "be asked to approve it."
)


def approvers(request: SubjectRequest, *, only_officer_id: int | None = None) -> list[str]:
    """The addresses of the active privacy officers who may approve ``request``: not the one
    who scoped it, nor one it is about (:func:`privacy.access.yours_to_approve`); with
    ``only_officer_id``, that officer's alone, if they may."""
    officers = role_holders(Role.PRIVACY_OFFICER)
    if only_officer_id is not None:
        officers = officers.filter(pk=only_officer_id)
    return [
        officer.email
        for officer in officers
        if officer.email and access.yours_to_approve(request, officer)
    ]


#: The steps a request may wait for that need another privacy officer.
APPROVE, CONFIRM = "approve", "confirm"


def step_nobody_may_take(requests, *, officers: list[User] | None = None) -> dict[int, str]:
    """For each of ``requests``, by primary key, the step it waits for that no active privacy
    officer may take: :data:`APPROVE` a scoped one (nobody :func:`approvers` would ask), or
    :data:`CONFIRM` its proposed rejection (the proposer does not, nor one it is about); ""
    when someone may, or it waits for no such step. With two officers, one scoped (or
    proposed) and it is about the other. The officers are read once (one query, or none when
    ``officers`` are given): the desk, the daily reminder and the request's page ask it."""
    if officers is None:
        officers = list(role_holders(Role.PRIVACY_OFFICER))
    steps = {}
    for request in requests:
        if request.rejection_proposed:
            may = any(access.may_confirm_rejection(request, officer) for officer in officers)
            steps[request.pk] = "" if may else CONFIRM
        elif request.status == SubjectRequest.Status.SCOPED:
            may = any(
                officer.email and access.yours_to_approve(request, officer) for officer in officers
            )
            steps[request.pk] = "" if may else APPROVE
        else:
            steps[request.pk] = ""
    return steps


def ask_after_commit(
    request: SubjectRequest,
    *,
    scoped_by: User,
    base_url: str,
    scoped_before_by_id: int | None = None,
) -> None:
    """Once the scope is committed, mail the officers who may approve ``request`` its
    reference, kind, regime, due date and a link to it, never who it is about. The scope
    stands whatever the mail does: a failure is logged, with the exception's type only (its
    text may quote the addresses).

    Scoped again by another officer (``scoped_before_by_id``: who scoped it before), only that
    one is asked: they may approve it now and never were asked, while the others were asked
    the first time (and the new scoper no longer may approve it)."""
    mail_after_commit(
        # None while a rejection is proposed: it is settled before anyone may approve.
        recipients=lambda: (
            []
            if request.rejection_proposed
            else approvers(request, only_officer_id=scoped_before_by_id)
        ),
        subject=f"{request.reference} waits for your approval",
        template="privacy/email/approval_asked.txt",
        context={
            "request": request,
            "scoped_by": scoped_by,
            "days_left": request.days_left(timezone.localdate()),
            "link": base_url + reverse("privacy:request", args=[request.public_id]),
        },
        logger=log,
        nobody=_NOBODY if scoped_before_by_id is None else _SCOPED_AGAIN_NOBODY,
        failed="The privacy officers were not asked to approve %s (%s): it is on their "
        "privacy desk.",
        log_args=(request.reference,),
    )
