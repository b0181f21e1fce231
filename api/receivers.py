"""A password changed or reset revokes every token its owner has; so does single sign-on
linked to an account whose address nobody verified.

The password is what a person changes when they fear someone else is in their account: the
sessions end with it (Django's session hash), and so must the tokens, which would otherwise
keep that someone in through the API. Both changes happen inside django-allauth, so its
signals are where to hear them; the revoking and its audit are :mod:`api.services`'. The
person is told, beside allauth's "Password successfully changed.", how many went with it.
"""

from allauth.account.models import EmailAddress
from allauth.account.signals import password_changed, password_reset
from allauth.socialaccount.signals import social_account_added
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


@receiver(social_account_added)
def _single_sign_on_linked(sender, request, sociallogin, **kwargs) -> None:
    """Single sign-on linked to an account whose address nobody verified: one made by open
    sign-up (``STEWARD_OPEN_SIGNUP``), by whoever typed that address. Signing in by the
    provider's address, allauth locks out that account's password (``wipe_password``) and the
    sessions end with it, but a token its maker took would keep them in, and act with every
    role the person is given later. Tokens of an account whose address an administrator's
    invitation vouched for stay."""
    user = sociallogin.user
    if EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists():
        return
    reason = "Single sign-on was linked to the account, whose address was never verified."
    _revoke_and_tell(request, user, reason=reason, notice=SIGN_ON_NOTICE)


#: Told to the person whose tokens single sign-on revoked (:func:`_single_sign_on_linked`).
SIGN_ON_NOTICE = (
    "The API tokens made on this account before you signed in with single sign-on were "
    "revoked: whoever made the account could have made them. Make new ones if you need them."
)


def _revoke_and_tell(request, user, *, reason: str, notice: str = "") -> None:
    revoked = revoke_all_tokens(user=user, actor=user, reason=reason)
    if revoked and request is not None:
        said = notice or revoked_tokens_notice(revoked)
        messages.info(request, said, fail_silently=True)


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
