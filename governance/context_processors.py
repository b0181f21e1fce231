from django.http import HttpRequest
from django.urls import reverse

from governance.roles import Role, roles_of

NAVIGATION = (
    ((Role.STAFF,), "Chat", "chat:home"),
    (tuple(Role), "Training", "training:home"),
    ((Role.POLICY_ADMIN,), "Policy", "governance:policy"),
    ((Role.POLICY_ADMIN,), "Users", "governance:users"),
    ((Role.PRIVACY_OFFICER,), "Privacy", "privacy:desk"),
    ((Role.AUDITOR,), "Audit", "audit:events"),
    ((Role.AUDITOR, Role.POLICY_ADMIN), "Insights", "audit:dashboard"),
)


def navigation(request: HttpRequest) -> dict:
    """The nav items the signed-in user's roles open (label, url, current?), and the roles."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    roles = roles_of(user)
    links = [(label, reverse(name)) for needs, label, name in NAVIGATION if set(needs) & set(roles)]
    # The current item is the one whose URL is the longest prefix of the page's path.
    matches = [url for _, url in links if request.path.startswith(url)]
    current = max(matches, key=len, default=None)
    items = [(label, url, url == current) for label, url in links]
    return {"nav_items": items, "user_roles": roles}
