"""Who may open what. Views call these; templates never decide permissions."""

from collections.abc import Callable
from functools import cache, wraps
from uuid import UUID

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from config.prepared import hot_cursor
from config.rows import Prebuilt
from governance.models import User
from governance.policy_cache import Version, cached
from governance.roles import MFA_REQUIRED_ROLES, ROLE_PERMISSIONS, Role


def role_holders(role: Role) -> QuerySet[User]:
    """Active accounts holding ``role`` (through its group, the permission given directly, or
    as a superuser), as ``has_perm`` answers, by email, in one query.

    Two uncorrelated sub-selects: ``ModelBackend.with_perm()`` asks one correlated EXISTS
    with an OR per user, which took 1.4 s for 5,000 people.
    """
    app_label, codename = role.permission.split(".")
    perm = {"permission__content_type__app_label": app_label, "permission__codename": codename}
    via_group = Group.permissions.through.objects.filter(**perm).values("group_id")
    in_group = User.groups.through.objects.filter(group_id__in=via_group).values("user_id")
    direct = User.user_permissions.through.objects.filter(**perm).values("user_id")
    return User.objects.filter(
        Q(pk__in=in_group) | Q(pk__in=direct) | Q(is_superuser=True), is_active=True
    ).order_by("email")


class PermissionBackend(ModelBackend):
    """Django's ModelBackend, reading a user's own and their groups' permissions in one query,
    and the signed-in user with SQL built once.

    Every page asks for a role (and, with MFA required, for the two that need it):
    Django reads the user's permissions and their groups' in two queries.
    The answer is the same set, cached on the user for the request as Django does.
    """

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                rows = Permission.objects.values_list("content_type__app_label", "codename")
            else:  # every page asks: SQL built once (the ORM took 1–2 ms to build it)
                with hot_cursor() as cursor:
                    cursor.execute(_permissions_sql(), [user_obj.pk, user_obj.pk])
                    rows = cursor.fetchall()
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache

    def get_user(self, user_id):
        """ModelBackend's, with SQL built once: every signed-in request asks (the ORM took
        about 0.6 ms to build a look-up that runs in 0.2)."""
        try:
            user_id = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        found = _USER.one([user_id])
        if found is None:
            return None
        return found[0] if self.user_can_authenticate(found[0]) else None


@cache
def _permissions_sql() -> str:
    """A user's own permissions and their groups', as (app label, codename); two parameters,
    the user's id twice."""
    own = User.user_permissions.through._meta
    grouped = Group.permissions.through._meta
    members = User.groups.through._meta

    def column(meta, name: str) -> str:
        return meta.get_field(name).column

    return (
        f"SELECT t.app_label, p.codename FROM {Permission._meta.db_table} p "
        f"JOIN {ContentType._meta.db_table} t ON t.id = p.content_type_id "
        f"WHERE p.id IN (SELECT {column(own, 'permission')} FROM {own.db_table} "
        f"WHERE {column(own, 'user')} = %s) "
        f"OR p.id IN (SELECT g.{column(grouped, 'permission')} FROM {grouped.db_table} g "
        f"JOIN {members.db_table} m ON m.{column(members, 'group')} = g.{column(grouped, 'group')} "
        f"WHERE m.{column(members, 'user')} = %s)"
    )


_USER = Prebuilt([(User, "u")], lambda: f"{User._meta.db_table} u WHERE u.id = %s")


def holds(user: User, role: Role, version: Version) -> bool:
    """What ``user.has_perm(role.permission)`` says, without its query when one of the
    user's groups (read with ``version``) grants the role, as is usual, or when nothing
    could (no group of theirs grants it, and they hold no permission of their own)."""
    if user.is_active and not version.group_ids.isdisjoint(_granting(version)[role]):
        return True
    if version.key is not None and not version.own_permissions and not user.is_superuser:
        return False
    return user.has_perm(role.permission)


def must_enrol_mfa(user: User, version: Version | None = None) -> bool:
    """Whether ``user`` holds a role that requires two-factor authentication and has none
    set up (``STEWARD_REQUIRE_MFA``): the site and their API tokens wait for it. With
    ``version``, the roles come from the cached policy (a query only for those who hold one)."""
    from allauth.mfa.utils import is_mfa_enabled
    from django.conf import settings

    if not settings.STEWARD_REQUIRE_MFA:
        return False
    if version is None:
        privileged = any(user.has_perm(role.permission) for role in MFA_REQUIRED_ROLES)
    else:
        privileged = any(holds(user, role, version) for role in MFA_REQUIRED_ROLES)
    return privileged and not is_mfa_enabled(user)


def _granting(version: Version) -> dict[Role, frozenset[int]]:
    """The groups granting each role, as of ``version`` (cached per policy version)."""
    return cached("governance.role-groups", version, _read_granting)


def _read_granting() -> dict[Role, frozenset[int]]:
    codenames = {codename: role for role, (codename, _) in ROLE_PERMISSIONS.items()}
    granting: dict[Role, set[int]] = {role: set() for role in Role}
    rows = Group.permissions.through.objects.filter(
        permission__content_type__app_label="governance", permission__codename__in=codenames
    ).values_list("group_id", "permission__codename")
    for group_id, codename in rows:
        granting[codenames[codename]].add(group_id)
    return {role: frozenset(groups) for role, groups in granting.items()}


def role_required(role: Role) -> Callable:
    """Anonymous visitors go to the login page; signed-in users without the role get 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm(role.permission):
                raise PermissionDenied(f"This page is for the {role.label} role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def any_role_required(*roles: Role) -> Callable:
    """Like :func:`role_required`, for pages that several roles share."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not any(request.user.has_perm(role.permission) for role in roles):
                labels = " or ".join(role.label for role in roles)
                raise PermissionDenied(f"This page is for the {labels} roles.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def get_user_for_admin(actor: User, public_id: UUID) -> User:
    """A user account, for someone allowed to manage accounts (404 otherwise)."""
    if not actor.has_perm(Role.POLICY_ADMIN.permission):
        raise Http404
    return get_object_or_404(User, public_id=public_id)
