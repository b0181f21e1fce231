from django.http import HttpRequest

from governance.roles import Role, roles_of

NAVIGATION = (
    (Role.STAFF, "Chat", "chat:home"),
    (Role.POLICY_ADMIN, "Policy", "governance:policy"),
    (Role.POLICY_ADMIN, "Users", "governance:users"),
    (Role.PRIVACY_OFFICER, "Privacy", "governance:privacy"),
    (Role.AUDITOR, "Audit", "audit:events"),
)


def navigation(request: HttpRequest) -> dict:
    """The nav items the signed-in user's roles open, and the roles themselves."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    roles = roles_of(user)
    items = [(label, url) for role, label, url in NAVIGATION if role in roles]
    return {"nav_items": items, "user_roles": roles}
