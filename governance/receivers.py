"""Authentication events, audited.

Logins happen inside django-allauth, so signals are the only place to hear
them. Everything Steward itself changes is audited explicitly in services.
"""

from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.account.signals import (
    email_confirmed,
    password_changed,
    password_reset,
    user_signed_up,
)
from allauth.account.stages import EmailVerificationStage, LoginStageController
from allauth.mfa.signals import authenticator_added, authenticator_removed
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.signals import social_account_added, social_account_removed
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.exceptions import PermissionDenied
from django.db.models.signals import pre_save
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import pseudonym, record
from governance.account_notices import address_proved_notice
from governance.services.accounts import (
    CHOOSES_PASSWORD,
    AddressProof,
    address_confirmed_from_mailbox,
    unconfirmed_sign_up,
)

Action = AuditEvent.Action


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    record(action=Action.LOGIN, actor=user, target=user, details=_client(request))


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record(action=Action.LOGOUT, actor=user, target=user)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # What was typed may be a mistyped password: keep only a keyed hash of it.
    identifier = str(credentials.get("email") or credentials.get("username") or "")
    known = get_user_model().objects.filter(email__iexact=identifier.strip()).first()
    record(
        action=Action.LOGIN_FAILED,
        outcome=AuditEvent.Outcome.FAILURE,
        actor_label="anonymous",
        target=known,
        details={"identifier_hmac": pseudonym(identifier), "known_user": known is not None}
        | _client(request),
    )


@receiver(user_signed_up)
def _signed_up(sender, request, user, **kwargs) -> None:
    """An account nobody invited: made by open sign-up's form, or by a single sign-on that
    may create accounts (``STEWARD_OIDC_AUTO_SIGNUP``). An auditor asks how each came."""
    via = "single sign-on" if kwargs.get("sociallogin") is not None else "sign-up form"
    record(
        action=Action.USER_SIGNED_UP,
        actor=user,
        target=user,
        details={"via": via} | _client(request),
    )


@receiver(pre_save, sender=EmailAddress)
def _address_about_to_be_verified(sender, instance, **kwargs) -> None:
    """Notes on an address saved verified whether that proves an unconfirmed sign-up's
    (asked before the save, which ends it), for :func:`_address_confirmed`. allauth saves the
    address before it sends ``email_confirmed``, and not every one of its routes passes
    through the adapter first (a sign-in or reset by code does not). The first save
    decides: allauth may save the address twice (primary, then verified)."""
    if instance.verified and not hasattr(instance, "proves_sign_up"):
        instance.proves_sign_up = unconfirmed_sign_up(instance.user)


@receiver(email_confirmed)
def _address_confirmed(sender, request, email_address, **kwargs) -> None:
    """An address proved from its mailbox (open sign-up's link, a password reset's): until
    then the account may be someone else's, and Steward gives it no role. Proving an
    unconfirmed sign-up's ends what whoever typed the address may have set up
    (:func:`governance.services.accounts.address_confirmed_from_mailbox`), unless this
    browser is the one they signed up in: then they are the owner."""
    user = email_address.user
    reset = getattr(email_address, "proved_by_reset", False)  # _reset_proves_address
    by_its_maker, identity = (False, None) if reset else _pending_sign_in_of(request, user)
    proof = address_confirmed_from_mailbox(
        user=user,
        proves_sign_up=getattr(email_address, "proves_sign_up", False),
        by_its_maker=by_its_maker,
        keeping=identity,
        new_password=reset,
    )
    no_way_in = not by_its_maker and not reset and proof != AddressProof()
    notice = address_proved_notice(proof, no_way_in=no_way_in)
    if notice and request is not None:
        messages.warning(request, notice, fail_silently=True)
    if no_way_in and request is not None:
        setattr(request, CHOOSES_PASSWORD, user.pk)  # AccountAdapter sends them to choose one


def _pending_sign_in_of(request, user) -> tuple[bool, SocialAccount | None]:
    """Whether this browser holds ``user``'s sign-in waiting for the address to be confirmed
    (allauth keeps it in the session: the sign-up's, or a sign-in's that sent the link
    again), and the identity it signs on with if it is a single sign-on. Then whoever
    proved the address is whoever made the account (allauth's own test for signing them in
    on confirmation). From another browser it may be the owner of an address someone else
    typed."""
    if request is None or not hasattr(request, "session"):
        return False, None
    stage = LoginStageController.enter(request, EmailVerificationStage.key)
    if stage is None or stage.login.user is None or stage.login.user.pk != user.pk:
        return False, None
    sociallogin = (stage.login.signal_kwargs or {}).get("sociallogin")
    if sociallogin is None:
        return True, None
    account = sociallogin.account
    linked = SocialAccount.objects.filter(user=user, provider=account.provider, uid=account.uid)
    return True, linked.first()


@receiver(password_changed)
def _password_changed(sender, request, user, **kwargs) -> None:
    record(action=Action.PASSWORD_CHANGED, actor=user, target=user)


@receiver(password_reset)
def _password_reset(sender, request, user, **kwargs) -> None:
    """A reset, or an invitation's link (the same allauth flow) used to choose a first
    password: an auditor looking for taken-over accounts reads resets."""
    first = getattr(request, "first_password_of", None) == user.pk  # governance.adapters
    record(
        action=Action.PASSWORD_CHOSEN if first else Action.PASSWORD_RESET, actor=user, target=user
    )
    _reset_proves_address(request, user)


def _reset_proves_address(request, user) -> None:
    """Mark the address verified, as its confirmation link does: the reset link went to it,
    so whoever used it reads that mailbox. allauth does so after a reset by code, not by
    link. Only an account with one address, the one the link can have gone to (Steward's
    accounts have one: people cannot add any)."""
    addresses = list(EmailAddress.objects.filter(user=user)[:2])
    if len(addresses) != 1:
        return
    (address,) = addresses
    if not address.verified and address.email.lower() == user.email.lower():
        address.proved_by_reset = True  # it keeps the password just chosen: _address_confirmed
        get_adapter(request).confirm_email(request, address)


@receiver(authenticator_added)
def _mfa_added(sender, request, user, authenticator, **kwargs) -> None:
    record(action=Action.MFA_ADDED, actor=user, target=user, details={"type": authenticator.type})


@receiver(authenticator_removed)
def _mfa_removed(sender, request, user, authenticator, **kwargs) -> None:
    record(action=Action.MFA_REMOVED, actor=user, target=user, details={"type": authenticator.type})


@receiver(social_account_added)
def _identity_linked(sender, request, sociallogin, **kwargs) -> None:
    """An identity at the single sign-on provider now signs in to this account (linked on
    the Single sign-on page, or at a first sign-on to an existing account): as a second
    factor's, an auditor looking for a taken-over account reads these."""
    user = sociallogin.user
    record(
        action=Action.IDENTITY_LINKED,
        actor=user,
        target=user,
        details={"provider": sociallogin.account.provider},
    )


@receiver(social_account_removed)
def _identity_unlinked(sender, request, socialaccount, **kwargs) -> None:
    user = socialaccount.user
    record(
        action=Action.IDENTITY_UNLINKED,
        actor=user,
        target=user,
        details={"provider": socialaccount.provider},
    )


def _client(request) -> dict[str, str]:
    """The client's address as allauth's rate limits see it (behind the TLS proxy: the one
    the proxy forwarded, not its own)."""
    if request is None:
        return {}
    try:
        return {"ip": get_adapter(request).get_client_ip(request)}
    except PermissionDenied:  # no address at all (a server on a unix socket)
        return {"ip": ""}
