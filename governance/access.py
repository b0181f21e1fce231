"""Who may open what. Views call these; templates never decide permissions."""

from collections.abc import Callable
from functools import wraps
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from governance.models import User
from governance.roles import Role


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
