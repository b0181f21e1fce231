"""Who may open which privacy object: privacy officers all; staff their own requests' pages."""

from uuid import UUID

from django.http import Http404
from django.shortcuts import get_object_or_404

from governance.models import User
from governance.roles import Role
from privacy.models import LegalHold, PurgeRun, SubjectRequest


def is_officer(user: User) -> bool:
    return user.has_perm(Role.PRIVACY_OFFICER.permission)


def is_about(request: SubjectRequest, user: User) -> bool:
    """Whether ``request`` is about ``user``: linked to their account, or naming their own
    email (a request recorded as an outside person's, without the account)."""
    from privacy.scope import digest_of

    if request.subject_user_id is not None:
        return request.subject_user_id == user.pk
    return bool(user.email) and digest_of("email", user.email) in request.digests


def yours_to_approve(request: SubjectRequest, user: User) -> bool:
    """Whether ``request`` waits for ``user``'s approval: scoped, by another officer (four
    eyes), and not about them."""
    return (
        request.status == SubjectRequest.Status.SCOPED
        and request.scoped_by_id != user.pk
        and not is_about(request, user)
    )


def may_confirm_rejection(request: SubjectRequest, user: User) -> bool:
    """Whether ``user`` may confirm ``request``'s proposed rejection: not the officer who
    proposed it (four eyes), nor one it is about."""
    return (
        request.rejection_proposed
        and request.rejection_proposed_by_id != user.pk
        and not is_about(request, user)
    )


def yours_to_confirm(hold: LegalHold, user: User) -> bool:
    """Whether ``hold``'s release waits for ``user`` to confirm it (or withdraw the ask): asked
    by another officer, and the hold is not about them."""
    return hold.release_asked and hold.release_asked_by_id != user.pk and not hold.is_about(user)


def get_request_for_user(user: User, public_id: UUID) -> SubjectRequest:
    """Officers open any request; a person only the ones about themselves (404 otherwise).

    Without its sealed access archive (up to megabytes), which only the download reads
    (loaded then, on first use); ``archive_available`` says whether there is one.
    """
    requests = SubjectRequest.objects.listed().select_related(
        "subject_user", "created_by", "verified_by", "scoped_by", "approved_by"
    )
    if not is_officer(user):
        requests = requests.filter(subject_user=user)
    return get_object_or_404(requests, public_id=public_id)


def get_purge_for_officer(user: User, public_id: UUID) -> PurgeRun:
    if not is_officer(user):
        raise Http404
    return get_object_or_404(PurgeRun, public_id=public_id)


def get_hold_for_officer(user: User, public_id: UUID) -> LegalHold:
    if not is_officer(user):
        raise Http404
    return get_object_or_404(LegalHold, public_id=public_id)
