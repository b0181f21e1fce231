"""DRF permissions that ask what the pages ask: does the user hold the role (governance.roles)."""

from rest_framework.permissions import BasePermission

from governance.roles import Role


class _HasRole(BasePermission):
    role: Role

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.role.permission))


def role_permission(role: Role) -> type[BasePermission]:
    """The permission class for endpoints of one role (403 for the signed-in without it)."""
    return type(
        f"Has{role.name.title().replace('_', '')}Role",
        (_HasRole,),
        {"role": role, "message": f"This endpoint is for the {role.label} role."},
    )
