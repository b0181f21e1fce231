"""Who may open which privacy object: privacy officers all; staff their own requests' pages."""

from uuid import UUID

from django.http import Http404
from django.shortcuts import get_object_or_404

from governance.models import User
from governance.roles import Role
from privacy.models import LegalHold, PurgeRun, SubjectRequest


def is_officer(user: User) -> bool:
    return user.has_perm(Role.PRIVACY_OFFICER.permission)


def get_request_for_user(user: User, public_id: UUID) -> SubjectRequest:
    """Officers open any request; a person only the ones about themselves (404 otherwise)."""
    requests = SubjectRequest.objects.select_related(
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
