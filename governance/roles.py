"""The four roles: Django groups, each granting one permission.

A user may hold several roles. Code asks about permissions (``user.has_perm``),
never about group names, so a site can build other groups from the same bricks.
"""

from django.db import models


class Role(models.TextChoices):
    STAFF = "staff", "Staff"
    POLICY_ADMIN = "policy_admin", "Policy admin"
    PRIVACY_OFFICER = "privacy_officer", "Privacy officer"
    AUDITOR = "auditor", "Auditor"

    @property
    def permission(self) -> str:
        return f"governance.{ROLE_PERMISSIONS[self][0]}"

    @property
    def group_name(self) -> str:
        return self.label


# role -> (codename, description); the permissions are declared on governance.User.
ROLE_PERMISSIONS: dict[Role, tuple[str, str]] = {
    Role.STAFF: ("use_chat", "Can chat with language models"),
    Role.POLICY_ADMIN: ("manage_policy", "Can manage policy, backends, users and roles"),
    Role.PRIVACY_OFFICER: ("handle_privacy", "Can run retention and data-subject requests"),
    Role.AUDITOR: ("view_audit", "Can read and export the audit trail"),
}

MFA_REQUIRED_ROLES = (Role.POLICY_ADMIN, Role.PRIVACY_OFFICER)


def roles_of(user) -> list[Role]:
    """The roles a user holds, in the canonical order."""
    if not user.is_authenticated or not user.is_active:
        return []
    return [role for role in Role if user.has_perm(role.permission)]


def ensure_role_groups() -> None:
    """Create the role groups with their permissions (idempotent; runs after migrate)."""
    from django.contrib.auth.models import Group, Permission

    for role, (codename, _) in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.group_name)
        permission = Permission.objects.get(content_type__app_label="governance", codename=codename)
        group.permissions.add(permission)
