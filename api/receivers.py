"""A password changed or reset revokes every token its owner has.

The password is what a person changes when they fear someone else is in their account: the
sessions end with it (Django's session hash), and so must the tokens, which would otherwise
keep that someone in through the API. Both changes happen inside django-allauth, so its
signals are where to hear them; the revoking and its audit are :mod:`api.services`'.
"""

from allauth.account.signals import password_changed, password_reset
from django.dispatch import receiver

from api.services import revoke_all_tokens


@receiver(password_changed)
def _password_changed(sender, request, user, **kwargs) -> None:
    revoke_all_tokens(user=user, actor=user, reason="The password was changed.")


@receiver(password_reset)
def _password_reset(sender, request, user, **kwargs) -> None:
    """Not an invitation's first password (the same allauth flow, governance.adapters): it
    replaces none, and the only token such an account can have is one an operator made."""
    if getattr(request, "first_password_of", None) == user.pk:
        return
    revoke_all_tokens(user=user, actor=user, reason="The password was reset.")
