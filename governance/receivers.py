"""Authentication events, audited.

Logins happen inside django-allauth, so signals are the only place to hear
them. Everything Steward itself changes is audited explicitly in services.
"""

from allauth.account.adapter import get_adapter
from allauth.account.signals import password_changed, password_reset
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
