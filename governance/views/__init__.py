"""HTML views of the governance app, one module per area.

``governance.urls`` and ``config.urls`` (home, healthz and the error handlers)
import from here.
"""

from governance.views.common import wants_partial
from governance.views.console import (
    approval_preference,
    approval_revoke,
    approvals,
    backend_delete,
    backend_detail,
    backend_new,
    backend_state,
    backend_test,
    category_detail,
    category_findings,
    category_new,
    category_state,
    clearance_revoke,
    clearances,
    policy,
    rule_delete,
    rule_detail,
    rule_new,
    rule_state,
    rules,
    term_list_delete,
    term_list_detail,
    term_list_new,
    term_list_state,
    term_lists,
)
from governance.views.dashboard import healthz, home
from governance.views.errors import bad_request, page_not_found, permission_denied, server_error
from governance.views.simulator import simulator
from governance.views.users import own_email, user_detail, users

__all__ = [
    "approval_preference",
    "approval_revoke",
    "approvals",
    "backend_delete",
    "backend_detail",
    "backend_new",
    "backend_state",
    "backend_test",
    "bad_request",
    "category_detail",
    "category_findings",
    "category_new",
    "category_state",
    "clearance_revoke",
    "clearances",
    "healthz",
    "home",
    "own_email",
    "page_not_found",
    "permission_denied",
    "policy",
    "rule_delete",
    "rule_detail",
    "rule_new",
    "rule_state",
    "rules",
    "server_error",
    "simulator",
    "term_list_delete",
    "term_list_detail",
    "term_list_new",
    "term_list_state",
    "term_lists",
    "user_detail",
    "users",
    "wants_partial",
]
