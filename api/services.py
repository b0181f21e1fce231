"""Making, revoking and checking personal API tokens; every step is audited, and the owner
is mailed of every token made in their name."""

import datetime as dt
import hmac
import logging
import secrets

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from api import ratelimit
from api.models import LOOKUP_CHARS, TOKEN_PREFIX, ApiToken, digest
from audit.models import AuditEvent
from audit.services import record
from config.rows import Prebuilt
from governance.models import User
from governance.policy_cache import user_version_columns, user_version_of

logger = logging.getLogger(__name__)

#: ``last_used_at`` is written at most this often per token (not on every request).
LAST_USE_PRECISION = dt.timedelta(minutes=1)
MAX_EXPIRY_DAYS = 3650


class TokenRefused(Exception):
    """A token that does not let its bearer in; ``str()`` says why, for the client."""


def create_token(
    *,
    user: User,
    name: str,
    expires_in_days: int | None,
    actor: User | None,
    tell_owner_on_commit: bool = True,
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it and the only copy of its secret.

    ``actor`` is whoever asked (the user on the settings page; nobody when an
    operator runs ``manage.py create_api_token``). Once it is saved, the owner is
    mailed its name, expiry and when (:func:`tell_owner`): a token someone else
    made from their session does not go unnoticed. ``tell_owner_on_commit=False`` leaves
    the notice to the caller, who sends it with :func:`tell_owner` once the token is shown
    (``create_api_token``: a mail server that never answers must not keep the token from
    the operator).
    """
    if not user.is_active:
        raise ValueError(f"{user.email} is deactivated.")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise ValueError(f"A token expires after 1 to {MAX_EXPIRY_DAYS} days, or never.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken(
        user=user,
        name=name.strip()[:80] or "API token",
        lookup=raw[:LOOKUP_CHARS],
        digest=digest(raw),
        created_at=now,
        expires_at=now + dt.timedelta(days=expires_in_days) if expires_in_days else None,
    )
    with transaction.atomic():
        token.save()
        record(
            action=AuditEvent.Action.API_TOKEN_CREATED,
            actor=actor,
            actor_label="" if actor else "manage.py create_api_token",
            target=token,
            after=_snapshot(token),
        )
        if tell_owner_on_commit:
            transaction.on_commit(lambda: tell_owner(token, by_operator=actor is None))
    return token, raw


def revoke_token(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke a token for good: the next request that carries it is refused."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        token.refresh_from_db()
        if updated:
            _record_revoked(token, actor=actor)
    return token


def revoke_all_tokens(*, user: User, actor: User | None, reason: str, actor_label: str = "") -> int:
    """Revoke every token of ``user`` that still works; the number revoked.

    Each is recorded as :func:`revoke_token` records one, with ``reason`` as its
    message. Called when the password is changed or reset (:mod:`api.receivers`),
    from the tokens page's "Revoke all", and by ``manage.py revoke_api_tokens``.
    Expired and already revoked tokens are left as they are.
    """
    with transaction.atomic():
        # Locked, so that a revoke of one of them meanwhile waits and then finds it done.
        tokens = list(ApiToken.objects.select_for_update().filter(user=user).usable())
        now = timezone.now()
        ApiToken.objects.filter(pk__in=[token.pk for token in tokens]).update(revoked_at=now)
        for token in tokens:
            token.user, token.revoked_at = user, now
            _record_revoked(token, actor=actor, actor_label=actor_label, message=reason)
    return len(tokens)


def authenticate(raw: str) -> ApiToken:
    """The usable token ``raw`` is, with its user and the policy version as the user's
    requests read it (``policy_version``, :func:`governance.policy_cache.read_version`),
    counted against its owner's rate limit.

    Raises :class:`TokenRefused` for a token that does not let its bearer in. A
    refused token that exists (revoked, expired, its owner deactivated) is
    recorded against its owner; an unknown one only logged, so that guessing
    cannot fill the audit trail. Every use of a token that exists counts
    against its owner's limit, the refused ones too: past it, :class:`ratelimit.RateLimited`
    and no event, so that a client in a loop fills neither the trail nor its lock.
    """
    token = _by_lookup(raw[:LOOKUP_CHARS]) if raw.startswith(TOKEN_PREFIX) else None
    if token is None or not hmac.compare_digest(token.digest, digest(raw)):
        logger.warning("an unknown API token was refused")
        raise TokenRefused(
            f"Invalid API token. Steward's tokens start with {TOKEN_PREFIX} (another key, such "
            "as OpenAI's, is not one): make yours in Steward under your name → API tokens."
        )
    # Per person, not per token: else each token more would be another minute's allowance.
    wait = ratelimit.retry_after(f"user:{token.user_id}")
    if wait is not None:
        raise ratelimit.RateLimited(wait)
    reason = _refusal(token)
    if reason:
        with transaction.atomic():
            record(
                action=AuditEvent.Action.API_TOKEN_REFUSED,
                actor=token.user,
                target=token,
                outcome=AuditEvent.Outcome.BLOCKED,
                message=reason,
            )
        raise TokenRefused(reason)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USE_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _address_unproved(user_id_column: str) -> str:
    """Whether nobody has proved the address of the user whose id ``user_id_column`` names:
    what :func:`governance.services.accounts.unconfirmed_sign_up` asks, as a column (no
    administrator invited them, they have a primary address row, and no row is verified)."""
    rows = f"SELECT 1 FROM {EmailAddress._meta.db_table} e WHERE e.user_id = {user_id_column}"
    primary = connection.ops.quote_name("primary")  # a reserved word
    # CASE: an invited person's rows are not read at all (AND leaves the order to the planner).
    return (
        f"(CASE WHEN u.invited_by_id IS NOT NULL THEN FALSE ELSE EXISTS ({rows} AND e.{primary}) "
        f"AND NOT EXISTS ({rows} AND e.verified) END)"
    )


_BY_LOOKUP = Prebuilt(
    [(ApiToken, "t"), (User, "u")],
    lambda: (
        f"{ApiToken._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id "
        "WHERE t.lookup = %s"
    ),
    also=lambda: f"{_address_unproved('u.id')}, {user_version_columns('u.id')}",
)


def _by_lookup(lookup: str) -> ApiToken | None:
    """The token with this lookup, its user attached, whether the user's address is unproved
    (``address_unproved``), and as ``policy_version`` the policy version with the user's
    groups (every API request asks for these: one query whose SQL is built once)."""
    found = _BY_LOOKUP.one([lookup])
    if found is None:
        return None
    token, token.user, unproved, *version = found
    token.address_unproved = bool(unproved)
    token.policy_version = user_version_of(*version)
    return token


def _refusal(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "This API token was revoked."
    if token.expired:
        return "This API token has expired."
    if not token.user.is_active:
        return "The account this API token belongs to is deactivated."
    if getattr(token, "address_unproved", False):
        # Made by open sign-up before its address had to be confirmed: whoever typed a
        # colleague's address would go on acting as them through the API.
        return (
            "This account's email address has not been confirmed yet: sign in to Steward "
            "once and follow the link it mails you; its API tokens work again once it is."
        )
    return ""


def _record_revoked(
    token: ApiToken, *, actor: User | None, actor_label: str = "", message: str = ""
) -> None:
    record(
        action=AuditEvent.Action.API_TOKEN_REVOKED,
        actor=actor,
        actor_label=actor_label,
        target=token,
        before={"status": "active"},
        after={"status": "revoked", **_snapshot(token)},
        message=message,
    )


def tell_owner(token: ApiToken, *, by_operator: bool) -> None:
    """Mail the owner that a token was made in their name: its name, expiry and when, never
    the token. A mail that fails is logged, its exception's type only (the text may quote
    the address), and is not sent again: the token stands, and the page about to show its
    only copy must not fail."""
    try:
        body = render_to_string(
            "api/email/token_created.txt",
            {"token": token, "user": token.user, "by_operator": by_operator},
        )
        send_mail(
            subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}A new API token was made for "
            "your account",
            message=body,
            from_email=None,
            recipient_list=[token.user.email],
        )
    except Exception as exc:  # smtplib's errors, and a mail service library's own
        logger.warning(
            "The notice of %s to its owner (user %s) was not sent (%s).",
            token,
            token.user.public_id,
            type(exc).__name__,
        )


def _snapshot(token: ApiToken) -> dict:
    return {
        "name": token.name,
        "owner": str(token.user.public_id),
        "lookup": token.lookup,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }
