"""Authentication events, audited.

Logins happen inside django-allauth, so signals are the only place to hear
them. Everything Steward itself changes is audited explicitly in services.
"""

from allauth.account.adapter import get_adapter
from allauth.account.signals import (
    email_confirmed,
    password_changed,
    password_reset,
    user_signed_up,
)
from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import pseudonym, record

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


@receiver(email_confirmed)
def _address_confirmed(sender, request, email_address, **kwargs) -> None:
    """An address proved from its mailbox (open sign-up's link): until then the account may
    be someone else's, and Steward gives it no role."""
    user = email_address.user
    record(action=Action.ADDRESS_CONFIRMED, actor=user, target=user)


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


@receiver(authenticator_added)
def _mfa_added(sender, request, user, authenticator, **kwargs) -> None:
    record(action=Action.MFA_ADDED, actor=user, target=user, details={"type": authenticator.type})


@receiver(authenticator_removed)
def _mfa_removed(sender, request, user, authenticator, **kwargs) -> None:
    record(action=Action.MFA_REMOVED, actor=user, target=user, details={"type": authenticator.type})


def _client(request) -> dict[str, str]:
    """The client's address as allauth's rate limits see it (behind the TLS proxy: the one
    the proxy forwarded, not its own)."""
    if request is None:
        return {}
    try:
        return {"ip": get_adapter(request).get_client_ip(request)}
    except PermissionDenied:  # no address at all (a server on a unix socket)
        return {"ip": ""}
