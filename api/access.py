"""Whose tokens: each person sees and revokes their own, and nobody else's (404)."""

from uuid import UUID

from django.http import Http404

from api.models import ApiToken
from governance.models import User


def get_token_for_user(user: User, public_id: UUID) -> ApiToken:
    """The user's own token; anyone else's, or a missing one, is 404."""
    token = ApiToken.objects.filter(user=user, public_id=public_id).first()
    if token is None:
        raise Http404("No such token.")
    return token
