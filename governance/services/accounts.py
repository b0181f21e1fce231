"""Changes to accounts and their roles: invitations, roles, deactivation and the first
administrator, each one audited, in one transaction."""

import logging
from dataclasses import asdict, dataclass
from typing import Any

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from api.services import revoke_all_tokens
from audit.models import AuditEvent
from audit.services import record
from config.mail import mail_after_commit, mail_error
from governance.access import role_holders
from governance.models import User
from governance.roles import Role, roles_of
from governance.services.common import PolicyError

logger = logging.getLogger(__name__)


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
    """Email a fresh invitation link to an account that has neither signed in nor chosen a
    password yet."""
    if not user.is_active:
        raise PolicyError("Reactivate the account first.")
    if user.last_login is not None:
        raise PolicyError(f"{user.email} has already signed in; they can reset their own password.")
    if user.has_usable_password():
        raise PolicyError(
            f"{user.email} has already chosen a password; if they lost it, they can choose a "
            "new one with Forgot password on the sign-in page."
        )
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


#: Where a request notes the account whose owner just proved its address with nothing left
#: to sign in with (another browser than the sign-up's): it is sent to choose a password.
CHOOSES_PASSWORD = "steward_chooses_password"


def choose_password_path(user: User) -> str:
    """The page where ``user`` chooses a password, as a reset link opens it: it works once,
    for ``PASSWORD_RESET_TIMEOUT``, and until the password changes (a credential)."""
    return reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )


def _deliver_invitation(user: User, actor: User, base_url: str) -> None:
    link = base_url + choose_password_path(user)
    try:
        _send_invitation(user, actor, link)
    except Exception as exc:  # smtplib's, refused connections, TLS, a mail library's own
        reason = mail_error(exc, user.email)
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
        subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}You are invited",  # "[Steward] "
        message=render_to_string("governance/email/invitation.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


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
    if granted and unconfirmed_sign_up(user):
        raise PolicyError(
            f"{user.email} signed up on their own and has not confirmed the address yet, so "
            "whoever made the account may not own it. Give it roles once the address is "
            "confirmed: Steward asks for that at each of its sign-ins."
        )
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


def unconfirmed_sign_up(user: User | None) -> bool:
    """Whether ``user`` came by open sign-up (or a single sign-on that made the account) and
    nobody has proved their address: no administrator invited them, they have a primary
    address row (sign-up always leaves one; invitations and create_admin record theirs
    verified), and none of their rows is verified.

    A row that is not primary does not count: allauth adds one, unverified, for an account
    made without any (``createsuperuser``, the shell) when it first resets its password or
    signs in, which made such an account look like a sign-up nobody confirmed."""
    return user is not None and user.pk in unconfirmed_sign_ups([user])


@dataclass(frozen=True)
class AddressProof:
    """What proving an address ended (:func:`_address_proved`): nothing, unless it proved
    an unconfirmed sign-up's."""

    identities_unlinked: int = 0
    api_tokens_revoked: int = 0
    password_removed: bool = False


#: Why the tokens of an account are revoked when its address is proved (an auditor reads it).
TOKENS_BEFORE_PROOF = (
    "Made before the account's address was confirmed: whoever typed the address could have made it."
)


def confirm_address_by_single_sign_on(*, user: User, account: SocialAccount) -> AddressProof:
    """Record ``user``'s address as verified: an account nobody had proved it of
    (:func:`unconfirmed_sign_up`) signed on through ``account``, whose provider vouched for
    that address. What its maker set up but ``account`` ends (:func:`_address_proved`)."""
    with transaction.atomic():
        rows = EmailAddress.objects.filter(user=user)
        if not rows.filter(email__iexact=user.email).update(verified=True):
            primary = not rows.filter(primary=True).exists()
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=primary)
        return _address_proved(user, proves_sign_up=True, keeping=account, via="single sign-on")


def address_confirmed_from_mailbox(
    *,
    user: User,
    proves_sign_up: bool,
    by_its_maker: bool = False,
    keeping: SocialAccount | None = None,
    new_password: bool = False,
) -> AddressProof:
    """Record that allauth marked ``user``'s address verified from its mailbox: the sign-up's
    confirmation link, a password reset's link (``governance.receivers``), or any other of
    its routes. If that proves the address of an unconfirmed sign-up (``proves_sign_up``:
    :func:`unconfirmed_sign_up`, asked before the address was saved verified), it ends what
    the account's maker set up (:func:`_address_proved`), except:

    - ``by_its_maker``: the browser that proved it holds the account's pending sign-in
      (whoever made the account reads the mailbox): the password stays, and so does
      ``keeping``, the identity of that pending sign-on;
    - ``new_password``: the proof was a reset, which just set the password: that one stays.
    """
    with transaction.atomic():
        return _address_proved(
            user,
            proves_sign_up=proves_sign_up,
            keeping=keeping if by_its_maker else None,
            keep_password=by_its_maker or new_password,
        )


def _address_proved(
    user: User,
    *,
    proves_sign_up: bool,
    keeping: SocialAccount | None = None,
    keep_password: bool = False,
    **details,
) -> AddressProof:
    """Record that ``user``'s address was proved, and what that ended.

    Until the address of an unconfirmed sign-up is proved, the account may be whoever typed
    the address (open sign-up, or a provider that let them choose it without vouching).
    Proving it ends what they could have set up, which would otherwise let them in to the
    owner's account from now on:

    1. every single sign-on identity linked before, but ``keeping`` (the one that proved
       it, or the maker's own pending sign-on): each is recorded as unlinked, the provider
       named, as one unlinked on the Single sign-on page is (``governance.receivers``), so
       that an auditor looking for identity changes finds these too; allauth's mail of an
       unlinked identity is not sent (the owner is told on the page);
    2. every API token (refused until now, they would work from now on);
    3. the password typed at sign-up, unless ``keep_password`` (the maker proved it, or a
       reset just chose a new one). The owner chooses one next (``AccountAdapter``).
    """
    if not proves_sign_up:
        proof = AddressProof()
    else:
        linked = SocialAccount.objects.filter(user=user).order_by("pk")
        if keeping is not None:
            linked = linked.exclude(pk=keeping.pk)
        identities = list(linked)
        for identity in identities:
            record(
                action=AuditEvent.Action.IDENTITY_UNLINKED,
                actor=user,
                target=user,
                details={"provider": identity.provider},
                message="Unlinked as the account's address was confirmed: linked before, it "
                "may have been whoever typed the address.",
            )
        SocialAccount.objects.filter(pk__in=[identity.pk for identity in identities]).delete()
        revoked = revoke_all_tokens(user=user, actor=user, reason=TOKENS_BEFORE_PROOF)
        removed = not keep_password and user.has_usable_password()
        if removed:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        proof = AddressProof(len(identities), revoked, removed)
    record(
        action=AuditEvent.Action.ADDRESS_CONFIRMED,
        actor=user,
        target=user,
        details={**details, **asdict(proof)},
    )
    return proof


def unconfirmed_sign_ups(users) -> set[int]:
    """The ids of ``users`` (one, or a page of them) that :func:`unconfirmed_sign_up` is true
    of, in one query (none when all were invited)."""
    ids = [user.pk for user in users if user.invited_by_id is None]
    rows = EmailAddress.objects.filter(user_id__in=ids).values_list(
        "user_id", "primary", "verified"
    )
    with_primary, verified = set(), set()
    for user_id, is_primary, is_verified in rows:
        if is_primary:
            with_primary.add(user_id)
        if is_verified:
            verified.add(user_id)
    return with_primary - verified
