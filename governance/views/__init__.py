"""HTML views of the governance app, one module per area.

``governance.urls`` and ``config.urls`` (home, healthz and the error handlers)
import from here.
"""

from governance.views.common import wants_partial
from governance.views.console import policy
from governance.views.dashboard import healthz, home, privacy
from governance.views.errors import page_not_found, permission_denied, server_error
from governance.views.simulator import simulator
from governance.views.users import user_detail, users

__all__ = [
    "healthz",
    "home",
    "page_not_found",
    "permission_denied",
    "policy",
    "privacy",
    "server_error",
    "simulator",
    "user_detail",
    "users",
    "wants_partial",
]
