"""Changes to accounts, roles and policy objects: each one audited, in one transaction."""

import datetime as dt
import logging
import smtplib
from typing import Any

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from api.services import revoke_all_tokens
from audit.models import AuditEvent
from audit.services import record
from config.mail import mail_after_commit
from governance.access import role_holders
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    ProtectedTermList,
    User,
)
from governance.policy import is_prohibited, unmet_requirements
from governance.roles import Role, roles_of

logger = logging.getLogger(__name__)


class PolicyError(Exception):
    """A change that the rules refuse; the message is shown to the person who asked."""


def invite_user(
    *, email: str, full_name: str, roles: list[Role], actor: User, base_url: str
) -> User:
    """Create an account without a password and email a link to choose one.

    The email goes after the commit; if it cannot be sent, the account stays and the
    failure is recorded (:func:`invitation_failure` tells it, :func:`resend_invitation`
    tries again). An invitation as Auditor or Privacy officer is mailed to the auditors, as
    :func:`set_roles` mails such a grant.
    """
    watched = _oversight(roles)
    with transaction.atomic():
        auditors = _auditor_addresses() if watched else []
        user = _new_account(email, full_name, roles, invited_by=actor)
        event = record(
            action=AuditEvent.Action.USER_INVITED,
            actor=actor,
            target=user,
            after={"roles": sorted(roles)},
        )
        transaction.on_commit(lambda: _deliver_invitation(user, actor, base_url))
        if watched:
            _tell_auditors_after_commit(
                auditors, person=user, granted=watched, actor=actor, event=event
            )
    return user


def _new_account(email: str, full_name: str, roles, *, invited_by: User | None = None) -> User:
    """An account with no password yet (its owner chooses one from an emailed or printed
    link), its address verified, holding ``roles``."""
    user = User.objects.create_user(email, None, full_name=full_name, invited_by=invited_by)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    _set_groups(user, roles)
    return user


def resend_invitation(*, user: User, actor: User, base_url: str) -> User:
    """Email a fresh invitation link to an account that has not signed in yet."""
    if not user.is_active:
        raise PolicyError("Reactivate the account first.")
    if user.last_login is not None:
        raise PolicyError(f"{user.email} has already signed in; they can reset their own password.")
    with transaction.atomic():
        record(
            action=AuditEvent.Action.USER_INVITED,
            actor=actor,
            target=user,
            message="Invitation sent again",
        )
        transaction.on_commit(lambda: _deliver_invitation(user, actor, base_url))
    return user


def invitation_failure(user: User) -> str:
    """Why the latest invitation email to ``user`` could not be sent ("" if it was)."""
    latest = (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.USER_INVITED,
            target_type="governance.user",
            target_id=str(user.public_id),
        )
        .order_by("-sequence")
        .first()
    )
    if latest is None or latest.outcome != AuditEvent.Outcome.FAILURE:
        return ""
    return latest.details.get("reason", "")


def _deliver_invitation(user: User, actor: User, base_url: str) -> None:
    link = base_url + reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )
    try:
        _send_invitation(user, actor, link)
    except Exception as exc:  # smtplib's, refused connections, TLS, a mail library's own
        reason = _mail_error(exc)
        logger.warning("Invitation to user %s not sent: %s", user.public_id, reason)
        with transaction.atomic():
            record(
                action=AuditEvent.Action.USER_INVITED,
                actor=actor,
                target=user,
                outcome=AuditEvent.Outcome.FAILURE,
                details={"reason": reason},
                message=f"The invitation email could not be sent: {reason}",
            )


def _send_invitation(user: User, actor: User, link: str) -> None:
    context = {
        "user": user,
        "actor": actor,
        "link": link,
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    send_mail(
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}You are invited to Steward",
        message=render_to_string("governance/email/invitation.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


def _mail_error(exc: Exception) -> str:
    """The mail server's complaint, short and without the SMTP password."""
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error
        if isinstance(said, bytes):
            said = said.decode(errors="replace")
        reason = f"{exc.smtp_code} {said}"
    elif isinstance(exc, OSError):
        reason = str(exc) or type(exc).__name__
    else:  # another library's exception: its name says whose complaint it is
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if settings.EMAIL_HOST_PASSWORD:
        reason = reason.replace(settings.EMAIL_HOST_PASSWORD, "…")
    return reason[:200]


def set_roles(*, user: User, roles: list[Role], actor: User) -> User:
    """Replace a user's roles. Refuses to leave the site without an active policy admin.

    Nobody gives themselves a role but Staff (:func:`_refuse_own_grant`): they may give
    roles up. A grant of Auditor or Privacy officer is mailed to the auditors
    (:func:`_tell_auditors_after_commit`). The console's page is the only way in (the REST
    API has no users endpoint); one that comes must call this too.

    A deactivated account keeps its roles untouched until it is reactivated.
    """
    if not user.is_active:
        raise PolicyError("Reactivate the account first; its roles are kept as they were.")
    granted = [role for role in Role if role in roles and role not in roles_of(user)]
    if user.pk == actor.pk:
        _refuse_own_grant([role for role in granted if role not in SELF_SERVED_ROLES])
    watched = _oversight(granted)
    with transaction.atomic():
        if Role.POLICY_ADMIN not in roles:
            _refuse_losing_last_admin(user)
        auditors = _auditor_addresses() if watched else []
        event = _replace_roles(user, roles, actor=actor)
        if watched:
            _tell_auditors_after_commit(
                auditors, person=user, granted=watched, actor=actor, event=event
            )
    return User.objects.get(pk=user.pk)  # drop the cached permissions


#: The roles one may take oneself: Staff only lets a policy admin chat, within the
#: clearances they manage anyway (and stepping down from policy admin to staff is one save).
SELF_SERVED_ROLES = (Role.STAFF,)


def _refuse_own_grant(granted: list[Role]) -> None:
    """Refuse a change to one's own roles that adds any but Staff.

    The auditor and the privacy officer watch the policy admins (DESIGN.md): a policy admin
    who could tick them on their own account would read the trail of their own changes,
    exports and data-subject requests. So another policy admin gives them, and the grant is
    mailed to the auditors; giving roles up stays open, short of leaving no policy admin.
    """
    if granted:
        names = " and ".join(role.label for role in granted)
        raise PolicyError(
            f"You cannot give yourself the {names} role{'s' if len(granted) > 1 else ''}: "
            "another policy admin changes your roles. You can give up roles you hold."
        )


#: Roles that watch the policy admins' work: each grant of one is mailed to the auditors.
OVERSIGHT_ROLES = (Role.AUDITOR, Role.PRIVACY_OFFICER)


def _oversight(roles) -> list[Role]:
    return [role for role in OVERSIGHT_ROLES if role in roles]


def _auditor_addresses() -> list[str]:
    """The active auditors' addresses, as they are before the change (a new auditor is not
    the one to tell)."""
    return list(role_holders(Role.AUDITOR).values_list("email", flat=True))


def _tell_auditors_after_commit(
    auditors: list[str],
    *,
    person: User,
    granted: list[Role],
    actor: User,
    event: AuditEvent | None,
) -> None:
    """Once committed, mail ``auditors`` that ``actor`` gave ``person`` the ``granted``
    oversight roles, naming the audit event. The change stands whatever the mail does: a
    failure is logged (the exception's type only: its text may quote the addresses)."""
    roles = " and ".join(role.label for role in granted)
    mail_after_commit(
        recipients=auditors,
        subject=f"{person.email} was given the {roles} role",
        template="governance/email/oversight_role_granted.txt",
        context={"person": person, "actor": actor, "roles": roles, "event": event},
        logger=logger,
        nobody="No active auditor to tell that user %s was given the %s role.",
        failed="The auditors were not told that user %s was given the %s role (%s).",
        log_args=(person.public_id, roles),
    )


def _replace_roles(user: User, roles, **who) -> AuditEvent | None:
    """Give ``user`` exactly ``roles`` (ending superuser status, which grants every role
    whatever the groups say), and record the change if there was one (the event, else
    None); ``who``: the audit event's actor (``actor`` or ``actor_label``) and ``message``."""
    before = _roles_held(user)
    was_superuser = _end_superuser(user)
    _set_groups(user, roles)
    after = _roles_held(user)
    if before != after or was_superuser:
        return record(
            action=AuditEvent.Action.USER_ROLES_CHANGED,
            target=user,
            before=_roles_record(before, superuser=was_superuser),
            after={"roles": after},
            **who,
        )
    return None


#: The actor of changes made with ``manage.py create_admin``.
COMMAND_LINE = "manage.py create_admin"


def create_admin(*, email: str, full_name: str = "") -> tuple[User, bool]:
    """Make ``email`` a policy admin and staff, creating the account if there is none
    (``manage.py create_admin``: the first administrator of a site). Returns the account
    and whether it is new.

    A new account has no password, as an invitation's. An existing one keeps its other
    roles but stops being a superuser, so the roles the console shows are the roles held.
    """
    granted = [Role.POLICY_ADMIN, Role.STAFF]
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = _new_account(email, full_name, granted)
            record(
                action=AuditEvent.Action.USER_INVITED,
                actor_label=COMMAND_LINE,
                target=user,
                after={"roles": _roles_held(user)},
                message="Administrator created from the command line",
            )
            return user, True
        if not user.is_active:
            raise PolicyError(
                f"{user.email} is deactivated; reactivate it on the Users page, "
                "or choose another address."
            )
        kept = {Role(role) for role in _roles_held(user)}
        _replace_roles(
            user,
            sorted(kept | set(granted)),
            actor_label=COMMAND_LINE,
            message="Made a policy admin from the command line",
        )
    return User.objects.get(pk=user.pk), False


def _end_superuser(user: User) -> bool:
    """Clear ``is_superuser`` (which grants every role, whatever the groups say); say
    whether it was set."""
    if not user.is_superuser:
        return False
    user.is_superuser = False
    user.save(update_fields=["is_superuser"])
    return True


def _roles_record(roles: list[str], *, superuser: bool) -> dict[str, Any]:
    return {"roles": roles, "superuser": True} if superuser else {"roles": roles}


def set_active(*, user: User, active: bool, actor: User) -> User:
    """Deactivate or reactivate an account.

    Either way, the account's sessions end and its API tokens are revoked, in the same
    transaction. A deactivated account's credentials only stop working while it stays
    deactivated (each request reads the account): without this, its reactivation would
    bring back every cookie and token it had, wherever they were left. Reactivating does it
    again for accounts deactivated before it was done at deactivation. The event counts
    them (``user.sessions_ended``, ``user.api_tokens_revoked``: also set on the returned
    account); each token's revocation has its own event.
    """
    user.sessions_ended = user.api_tokens_revoked = 0
    if user.is_active == active:
        return user
    if active and user.is_erased:
        raise PolicyError(
            "This account was erased by a data-subject request and cannot be reactivated: "
            "invite the person again if they come back."
        )
    with transaction.atomic():
        if not active:
            if user.pk == actor.pk:
                raise PolicyError("You cannot deactivate your own account.")
            _refuse_losing_last_admin(user)
        user.sessions_ended = _end_sessions(user)
        user.api_tokens_revoked = revoke_all_tokens(
            user=user,
            actor=actor,
            reason="Account reactivated: a token from before its deactivation"
            if active
            else "Account deactivated",
        )
        user.is_active = active
        user.save(update_fields=["is_active"])
        record(
            action=AuditEvent.Action.USER_REACTIVATED
            if active
            else AuditEvent.Action.USER_DEACTIVATED,
            actor=actor,
            target=user,
            before={"is_active": not active},
            after={"is_active": active},
            details={
                "sessions_ended": user.sessions_ended,
                "api_tokens_revoked": user.api_tokens_revoked,
            },
        )
    return user


def _end_sessions(user: User) -> int:
    """Delete every unexpired session signed in as ``user``; how many there were.

    Sessions are stored signed, keyed by a random key, not by user: each one is read. There
    are as many as people who used the site within the idle window, and deactivating is
    rare.
    """
    sessions = Session.objects.filter(expire_date__gt=timezone.now()).only(
        "session_key", "session_data"
    )
    user_id = str(user.pk)
    theirs = [
        s.session_key for s in sessions.iterator() if s.get_decoded().get(SESSION_KEY) == user_id
    ]
    Session.objects.filter(session_key__in=theirs).delete()
    return len(theirs)


def _set_groups(user: User, roles: list[Role]) -> None:
    role_groups = Group.objects.filter(name__in=[role.group_name for role in Role])
    user.groups.remove(*role_groups)
    user.groups.add(*Group.objects.filter(name__in=[Role(r).group_name for r in roles]))


def _roles_held(user: User) -> list[str]:
    """The roles whose group ``user`` is in, sorted (what the audit trail shows)."""
    names = set(user.groups.values_list("name", flat=True))
    return sorted(role.value for role in Role if role.group_name in names)


def _refuse_losing_last_admin(user: User) -> None:
    """Inside a transaction: refuse if ``user`` is the only active policy admin.

    Changing roles touches only the user-group table, so the users' row locks cannot
    serialise two admins demoting each other. Everything that removes an admin locks
    the "Policy admin" group row first, and counts after (SQLite: one writer at a time).
    """
    Group.objects.select_for_update().filter(name=Role.POLICY_ADMIN.group_name).first()
    admins = User.objects.filter(
        Q(groups__name=Role.POLICY_ADMIN.group_name) | Q(is_superuser=True), is_active=True
    )
    if user.is_active and set(admins.values_list("pk", flat=True)) == {user.pk}:
        raise PolicyError("Steward needs at least one active policy admin; appoint another first.")


# --- The policy console --------------------------------------------------------------
#
# Every change to a policy object is one transaction holding the change and exactly
# one audit event (none when nothing changed). ``before``/``after`` carry settings
# only: never a credential (just ``"credential changed": true``) and never the
# terms of a protected-term list (just their count).

BACKEND_FIELDS = Backend.POLICY_FIELDS
CATEGORY_FIELDS = Category.POLICY_FIELDS
RULE_FIELDS = ("name", "reason", "kind", "pattern", "case_sensitive", "action", "is_active")
TERM_LIST_FIELDS = ("name", "kind", "term_count", "is_active")


def _snapshot(obj, fields: tuple[str, ...]) -> dict[str, Any]:
    """The audited settings of ``obj``, as JSON-safe values."""
    values = {}
    for name in fields:
        value = getattr(obj, name)
        values[name] = value.isoformat() if isinstance(value, dt.date) else value
    return values


def _changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values differ, on both sides."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before[k] for k in keys if k in before}, {k: after[k] for k in keys}


def _record_policy(
    *, actor: User, target, message: str, before: dict | None, after: dict | None
) -> None:
    record(
        action=AuditEvent.Action.POLICY_CHANGED,
        actor=actor,
        target=target,
        before=before,
        after=after,
        message=message,
    )


def _locked_or_new(model, instance, snapshot) -> tuple[Any, dict[str, Any]]:
    """For an edit, the row locked for update and its audited settings before the edit; for a
    new one (``instance`` None), an unsaved row and no settings."""
    if instance is None:
        return model(), {}
    locked = model.objects.select_for_update().get(pk=instance.pk)
    return locked, snapshot(locked)


def _record_saved(
    *, actor: User, target, noun: str, creating: bool, before: dict, after: dict, message=""
) -> None:
    """Audit a save: a new one with all its settings, an edit with only what changed (and
    nothing at all when nothing did); ``message`` words an edit otherwise than "NOUN edited"."""
    if creating:
        _record_policy(
            actor=actor, target=target, message=f"{noun} created", before=None, after=after
        )
        return
    before, after = _changes(before, after)
    if after:
        _record_policy(
            actor=actor,
            target=target,
            message=message or f"{noun} edited",
            before=before,
            after=after,
        )


#: The kinds whose vendor's host is named after the region (``bedrock-runtime.REGION.
#: amazonaws.com``, ``REGION-aiplatform.googleapis.com``); for the others it only routes.
REGION_NAMES_HOST = (Backend.Kind.BEDROCK, Backend.Kind.VERTEX)
#: A backend's fields that say where its key is sent (:func:`key_destination_changes`).
KEY_DESTINATION_FIELDS = ("kind", "base_url", "region")
KEY_REMOVED = (
    "The stored key was removed because the {what} changed: enter the key again for the new {what}."
)


def key_destination_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed, between two snapshots of a backend, about where its key is sent, as the
    form names it ("kind", "address", "region"); empty if the key still goes where it went.

    The model (Azure's deployment), Vertex AI's project and Azure's api-version only change
    the path on the same host, so they are not among them.
    """
    changed = []
    if before["kind"] != after["kind"]:
        changed.append("kind")
    if before["base_url"] != after["base_url"]:
        changed.append("address")
    if after["kind"] in REGION_NAMES_HOST and before["region"] != after["region"]:
        changed.append("region")
    return changed


def changes_in_words(changes: list[str]) -> str:
    """:func:`key_destination_changes` as a phrase: "address", "kind and address",
    "kind, address and region"."""
    return " and ".join([", ".join(changes[:-1]), changes[-1]] if changes[1:] else changes)


def forget_health(backend: Backend) -> None:
    """Clear the last "Test connection" result (unsaved): it was the old address's."""
    backend.health_checked_at = backend.health_latency_ms = None
    backend.health_error = ""


def save_backend(
    *,
    backend: Backend | None,
    values: dict[str, Any],
    credential: str,
    actor: User,
    remove_credential: bool = False,
) -> Backend:
    """Create or edit a backend. A non-empty ``credential`` is sealed and replaces the old one;
    ``remove_credential`` deletes the stored one (the key then comes from ``credential_env``,
    or from the workers' own identity).

    A stored key goes only where it was entered for: an edit that changes where it would be
    sent (:func:`key_destination_changes`) deletes it, unless a new key comes with the edit.
    Else a policy admin, who can never read the key, could point the backend at a server of
    their own and have the next call send it there. The returned backend's
    ``credential_notice`` then says so, for the person saving ("" otherwise). A key read from
    ``credential_env`` is not stored, and stays named: the server offers those variables to
    every backend (``STEWARD_BACKEND_KEY_VARIABLES``). Such an edit also clears the health
    (the last "Test connection"), which was the old address's.

    Disabling goes through :func:`set_backend_enabled`, which asks for confirmation.
    """
    with transaction.atomic():
        creating = backend is None
        backend, before = _locked_or_new(Backend, backend, _backend_snapshot)
        for name, value in values.items():
            setattr(backend, name, value)
        after = _backend_snapshot(backend)
        moved = [] if creating else key_destination_changes(before, after)
        if moved:
            forget_health(backend)
        backend.save()
        message = ""
        backend.credential_notice = ""
        if credential:
            backend.seal_credential(credential)
            backend.save(update_fields=["credential_encrypted"])
            after["credential changed"] = True
        elif (remove_credential or moved) and backend.credential_encrypted:
            backend.credential_encrypted = b""
            backend.save(update_fields=["credential_encrypted"])
            before["has_credential"], after["has_credential"] = True, False
            if not remove_credential:
                what = changes_in_words(moved)
                message = f"Backend edited: the stored key was removed because the {what} changed"
                backend.credential_notice = KEY_REMOVED.format(what=what)
        _record_saved(
            actor=actor,
            target=backend,
            noun="Backend",
            creating=creating,
            before=before,
            after=after,
            message=message,
        )
    return backend


def _backend_snapshot(backend: Backend) -> dict[str, Any]:
    return _snapshot(backend, BACKEND_FIELDS)


def set_backend_enabled(*, backend: Backend, enabled: bool, actor: User) -> Backend:
    """Enable or disable a backend; a disabled one serves no category until enabled again."""
    with transaction.atomic():
        backend = Backend.objects.select_for_update().get(pk=backend.pk)
        if backend.enabled == enabled:
            return backend
        backend.enabled = enabled
        backend.save(update_fields=["enabled", "updated_at"])
        _record_policy(
            actor=actor,
            target=backend,
            message="Backend enabled" if enabled else "Backend disabled",
            before={"enabled": not enabled},
            after={"enabled": enabled},
        )
    return backend


def test_backend_connection(*, backend: Backend, actor: User, timeout: float = 10) -> Backend:
    """Call the backend with its real client and keep the outcome as its health.

    The call happens outside any transaction (it may take ``timeout`` seconds);
    the health fields and the audit event are then written together. The event
    says only whether it worked and how fast: never the key, nor what the
    backend answered.
    """
    # imported here: the vendors' clients are slow to import, and only this needs them
    from chat.llm import LLMError, adapter_for

    try:
        health = adapter_for(backend).check(timeout=timeout)
        ok, latency_ms, error = health.ok, health.latency_ms, health.error
    except LLMError as exc:  # configuration: no call was made
        ok, latency_ms, error = False, None, str(exc)
    with transaction.atomic():
        backend = Backend.objects.select_for_update().get(pk=backend.pk)
        backend.health_checked_at = timezone.now()
        backend.health_latency_ms = latency_ms
        backend.health_error = error[: Backend._meta.get_field("health_error").max_length]
        # not ``updated_at``: a check is not an edit of the policy
        backend.save(update_fields=["health_checked_at", "health_latency_ms", "health_error"])
        record(
            action=AuditEvent.Action.BACKEND_TESTED,  # not a change of the policy
            actor=actor,
            target=backend,
            outcome=AuditEvent.Outcome.SUCCESS if ok else AuditEvent.Outcome.FAILURE,
            details={"health": "ok" if ok else "error", "latency_ms": latency_ms},
            message="Connection tested",
        )
    return backend


def delete_backend(*, backend: Backend, actor: User) -> None:
    """Delete a backend that no category relies on (revoke its approvals first)."""
    with transaction.atomic():
        backend = Backend.objects.select_for_update().get(pk=backend.pk)
        if backend.approvals.exists():
            raise PolicyError(
                f"{backend.name} is approved for categories; revoke those approvals first, "
                "or disable it instead."
            )
        _record_policy(
            actor=actor,
            target=backend,
            message="Backend deleted",
            before=_backend_snapshot(backend),
            after=None,
        )
        backend.delete()


def approve_backend(
    *, category: Category, backend: Backend, preference: int, actor: User
) -> Approval:
    """Approve a backend for a category, refusing any that breaks a requirement.

    The refusal names every broken requirement, in the sentences of
    :func:`governance.policy.unmet_requirements`.
    """
    with transaction.atomic():
        category = Category.objects.select_for_update().get(pk=category.pk)
        problems = unmet_requirements(category, backend, today=timezone.localdate())
        if problems:
            raise PolicyError(*problems)
        if Approval.objects.filter(category=category, backend=backend).exists():
            raise PolicyError(f"{backend.name} is already approved for {category.name}.")
        approval = Approval.objects.create(
            category=category, backend=backend, preference=preference, approved_by=actor
        )
        _record_policy(
            actor=actor,
            target=approval,
            message="Backend approved for a category",
            before=None,
            after={
                "category": category.number,
                "backend": str(backend.public_id),
                "backend_name": backend.name,
                "preference": preference,
            },
        )
    return approval


def set_approval_preference(*, approval: Approval, preference: int, actor: User) -> None:
    """Change where a backend stands among those approved for a category (lower is tried
    first), without revoking it: between a revoke and a new approval it served nobody."""
    with transaction.atomic():
        approval = Approval.objects.select_for_update().get(pk=approval.pk)
        if approval.preference == preference:
            return
        before = {
            "category": approval.category.number,
            "backend_name": approval.backend.name,
            "preference": approval.preference,
        }
        approval.preference = preference
        approval.save(update_fields=["preference"])
        _record_policy(
            actor=actor,
            target=approval,
            message="Approval preference changed",
            before=before,
            after={"preference": preference},
        )


def revoke_approval(*, approval: Approval, actor: User) -> None:
    """Withdraw a backend's approval for a category: it serves that category no more."""
    with transaction.atomic():
        _record_policy(
            actor=actor,
            target=approval,
            message="Approval revoked",
            before={
                "category": approval.category.number,
                "backend": str(approval.backend.public_id),
                "backend_name": approval.backend.name,
                "preference": approval.preference,
            },
            after=None,
        )
        approval.delete()


def _party(clearance: Clearance) -> dict[str, str]:
    if clearance.group_id:
        return {"group": clearance.group.name}
    return {"user": str(clearance.user.public_id), "user_email": clearance.user.email}


def clearance_problem(category: Category) -> str:
    """Why nobody may be cleared for ``category`` ("" when someone may): a clearance for
    what no model ever receives would read as leave to send it."""
    if is_prohibited(category):
        return f"{category.name} is never sent to any model: nobody is cleared for it."
    return ""


def grant_clearance(
    *, category: Category, group: Group | None = None, user: User | None = None, actor: User
) -> Clearance:
    """Clear a role group or one person for a category."""
    if (group is None) == (user is None):
        raise PolicyError("Choose either a group or a person.")
    if problem := clearance_problem(category):
        raise PolicyError(problem)
    already = PolicyError(f"{group or user} is already cleared for {category.name}.")
    with transaction.atomic():
        if Clearance.objects.filter(category=category, group=group, user=user).exists():
            raise already
        try:
            with transaction.atomic():  # another admin's grant of it may commit meanwhile
                clearance = Clearance.objects.create(
                    category=category, group=group, user=user, granted_by=actor
                )
        except IntegrityError:
            raise already from None
        _record_policy(
            actor=actor,
            target=clearance,
            message="Clearance granted",
            before=None,
            after={"category": category.number, **_party(clearance)},
        )
    return clearance


def revoke_clearance(*, clearance: Clearance, actor: User) -> None:
    """Withdraw a clearance: new conversations in that category are refused at once."""
    with transaction.atomic():
        _record_policy(
            actor=actor,
            target=clearance,
            message="Clearance revoked",
            before={"category": clearance.category.number, **_party(clearance)},
            after=None,
        )
        clearance.delete()


def save_category(*, category: Category | None, values: dict[str, Any], actor: User) -> Category:
    """Create or edit a category's description, retention and routing requirements."""
    with transaction.atomic():
        creating = category is None
        category, before = _locked_or_new(Category, category, _category_snapshot)
        for name, value in values.items():
            setattr(category, name, value)
        category.save()
        after = _category_snapshot(category)
        _record_saved(
            actor=actor,
            target=category,
            noun="Category",
            creating=creating,
            before=before,
            after=after,
        )
    return category


def _category_snapshot(category: Category) -> dict[str, Any]:
    return _snapshot(category, CATEGORY_FIELDS)


def set_finding_actions(*, category: Category, actions: dict[str, str], actor: User) -> Category:
    """Replace a category's overrides of the finding matrix (type -> action)."""
    return save_category(category=category, values={"finding_actions": actions}, actor=actor)


def set_category_active(*, category: Category, active: bool, actor: User) -> Category:
    """Retire a category (nobody can pick it) or bring it back."""
    return save_category(category=category, values={"is_active": active}, actor=actor)


def save_rule(*, rule: DetectionRule | None, values: dict[str, Any], actor: User) -> DetectionRule:
    """Create or edit a detection rule (the form has checked the pattern already)."""
    with transaction.atomic():
        creating = rule is None
        rule, before = _locked_or_new(DetectionRule, rule, _rule_snapshot)
        for name, value in values.items():
            setattr(rule, name, value)
        rule.save()
        after = _rule_snapshot(rule)
        _record_saved(
            actor=actor, target=rule, noun="Rule", creating=creating, before=before, after=after
        )
    return rule


def _rule_snapshot(rule: DetectionRule) -> dict[str, Any]:
    values = _snapshot(rule, RULE_FIELDS)
    values["min_category"] = rule.min_category.number if rule.min_category else None
    return values


def delete_rule(*, rule: DetectionRule, actor: User) -> None:
    """Delete a rule; past decisions keep its name in the audit trail."""
    with transaction.atomic():
        _record_policy(
            actor=actor,
            target=rule,
            message="Rule deleted",
            before=_rule_snapshot(rule),
            after=None,
        )
        rule.delete()


def save_term_list(
    *,
    term_list: ProtectedTermList | None,
    values: dict[str, Any],
    terms: list[str] | None,
    actor: User,
) -> ProtectedTermList:
    """Create or edit a protected-term list; ``terms`` (when given) replaces every term.

    The terms are sealed; the audit trail records only how many there are.
    """
    with transaction.atomic():
        creating = term_list is None
        term_list, before = _locked_or_new(ProtectedTermList, term_list, _term_list_snapshot)
        for name, value in values.items():
            setattr(term_list, name, value)
        if terms is not None:
            if creating:
                term_list.save()  # the sealing context needs the saved public id
            term_list.set_terms(terms)
        term_list.save()
        after = _term_list_snapshot(term_list)
        if terms is not None:
            after["terms replaced"] = True
        _record_saved(
            actor=actor,
            target=term_list,
            noun="Term list",
            creating=creating,
            before=before,
            after=after,
        )
    return term_list


def _term_list_snapshot(term_list: ProtectedTermList) -> dict[str, Any]:
    return _snapshot(term_list, TERM_LIST_FIELDS)


def delete_term_list(*, term_list: ProtectedTermList, actor: User) -> None:
    """Delete a protected-term list and its sealed terms."""
    with transaction.atomic():
        _record_policy(
            actor=actor,
            target=term_list,
            message="Term list deleted",
            before=_term_list_snapshot(term_list),
            after=None,
        )
        term_list.delete()
