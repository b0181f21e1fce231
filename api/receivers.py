"""A password changed or reset revokes every token its owner has.

The password is what a person changes when they fear someone else is in their account: the
sessions end with it (Django's session hash), and so must the tokens, which would otherwise
keep that someone in through the API. Both changes happen inside django-allauth, so its
signals are where to hear them; the revoking and its audit are :mod:`api.services`'. The
person is told, beside allauth's "Password successfully changed.", how many went with it.
"""

from allauth.account.signals import password_changed, password_reset
from django.contrib import messages
from django.dispatch import receiver

from api.services import revoke_all_tokens


@receiver(password_changed)
def _password_changed(sender, request, user, **kwargs) -> None:
    _revoke_and_tell(request, user, reason="The password was changed.")


@receiver(password_reset)
def _password_reset(sender, request, user, **kwargs) -> None:
    """Not an invitation's first password (the same allauth flow, governance.adapters): it
    replaces none, and the only token such an account can have is one an operator made."""
    if getattr(request, "first_password_of", None) == user.pk:
        return
    _revoke_and_tell(request, user, reason="The password was reset.")


def _revoke_and_tell(request, user, *, reason: str) -> None:
    revoked = revoke_all_tokens(user=user, actor=user, reason=reason)
    if revoked and request is not None:
        messages.info(request, revoked_tokens_notice(revoked), fail_silently=True)


def revoked_tokens_notice(count: int, *, done: bool = True) -> str:
    """What a person whose password change revoked ``count`` API tokens is told afterwards,
    or (``done=False``) warned of on the password form."""
    if count == 1:
        tokens, programs = "your API token", "a program using it will need a new one."
    else:
        tokens, programs = f"your {count} API tokens", "programs using them will need new ones."
    if done:
        were = "was" if count == 1 else "were"
        return f"{tokens[0].upper()}{tokens[1:]} {were} revoked with the old password; {programs}"
    return f"Changing your password revokes {tokens}; {programs}"
