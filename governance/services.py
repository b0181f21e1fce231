"""Changes to accounts and roles: each one audited, in one transaction."""

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record
from governance.models import User
from governance.roles import Role, roles_of


class PolicyError(Exception):
    """A change that the rules refuse; the message is shown to the person who asked."""


def invite_user(
    *, email: str, full_name: str, roles: list[Role], actor: User, base_url: str
) -> User:
    """Create an account without a password and email a link to choose one."""
    with transaction.atomic():
        user = User.objects.create_user(email, None, full_name=full_name, invited_by=actor)
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
        _set_groups(user, roles)
        record(
            action=AuditEvent.Action.USER_INVITED,
            actor=actor,
            target=user,
            after={"roles": sorted(roles)},
        )
        link = base_url + reverse(
            "account_reset_password_from_key",
            kwargs={
                "uidb36": user_pk_to_url_str(user),
                "key": default_token_generator.make_token(user),
            },
        )
        transaction.on_commit(lambda: _send_invitation(user, actor, link))
    return user


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


def set_roles(*, user: User, roles: list[Role], actor: User) -> User:
    """Replace a user's roles. Refuses to leave the site without an active policy admin."""
    with transaction.atomic():
        before = sorted(roles_of(user))
        if Role.POLICY_ADMIN not in roles:
            _refuse_losing_last_admin(user)
        _set_groups(user, roles)
        user = User.objects.get(pk=user.pk)  # drop the cached permissions
        after = sorted(roles_of(user))
        if before != after:
            record(
                action=AuditEvent.Action.USER_ROLES_CHANGED,
                actor=actor,
                target=user,
                before={"roles": before},
                after={"roles": after},
            )
    return user


def set_active(*, user: User, active: bool, actor: User) -> User:
    """Deactivate (sessions stop working at once) or reactivate an account."""
    if user.is_active == active:
        return user
    with transaction.atomic():
        if not active:
            if user.pk == actor.pk:
                raise PolicyError("You cannot deactivate your own account.")
            _refuse_losing_last_admin(user)
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
        )
    return user


def _set_groups(user: User, roles: list[Role]) -> None:
    role_groups = Group.objects.filter(name__in=[role.group_name for role in Role])
    user.groups.remove(*role_groups)
    user.groups.add(*Group.objects.filter(name__in=[Role(r).group_name for r in roles]))


def _refuse_losing_last_admin(user: User) -> None:
    admins = User.objects.select_for_update(of=("self",)).filter(
        is_active=True, groups__name=Role.POLICY_ADMIN.group_name
    )
    if user.is_active and set(admins.values_list("pk", flat=True)) == {user.pk}:
        raise PolicyError("Steward needs at least one active policy admin; appoint another first.")
