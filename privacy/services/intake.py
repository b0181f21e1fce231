"""Recording a request as received: by an officer from the intake form, or by a staff
member for their own data; its reference and its legal due date."""

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from chat import index_key
from governance.models import User
from privacy import policy, scope
from privacy.models import SubjectRequest
from privacy.services.common import PrivacyError, record_step
from privacy.services.workflow import verify_identity

#: An intake identical to one recorded this recently is a double submit, refused.
DUPLICATE_WINDOW = dt.timedelta(minutes=10)


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


def _follow_up_due_on(original: SubjectRequest, received_on: dt.date) -> dt.date:
    """When a follow-up of ``original`` recorded on ``received_on`` is due: by the first's due
    date while that has not passed (an extension of the first not carried past the
    follow-up's own clock), otherwise as a request received that day (:func:`finish_erasure`)."""
    own = policy.due_on(original.regime_rules, received_on)
    return min(original.due_on, own) if original.due_on >= received_on else own


# Last: telling the requester builds on this module's steps, and its steps tell them.
from privacy import notices  # noqa: E402
