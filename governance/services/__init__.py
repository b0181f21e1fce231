"""Changes to accounts, roles and policy objects: each one audited, in one transaction.

One module per area: ``accounts`` (invitations, roles, deactivation, the first
administrator) and ``console`` (the policy console's objects); other modules import these
names from here.
"""

from governance.services.accounts import (
    create_admin,
    invitation_failure,
    invite_user,
    resend_invitation,
    set_active,
    set_roles,
)
from governance.services.common import PolicyError
from governance.services.console import (
    KEY_DESTINATION_FIELDS,
    approve_backend,
    changes_in_words,
    clearance_problem,
    delete_backend,
    delete_rule,
    delete_term_list,
    forget_health,
    grant_clearance,
    key_destination_changes,
    revoke_approval,
    revoke_clearance,
    save_backend,
    save_category,
    save_rule,
    save_term_list,
    set_approval_preference,
    set_backend_enabled,
    set_category_active,
    set_finding_actions,
    test_backend_connection,
)

__all__ = [
    "KEY_DESTINATION_FIELDS",
    "PolicyError",
    "approve_backend",
    "changes_in_words",
    "clearance_problem",
    "create_admin",
    "delete_backend",
    "delete_rule",
    "delete_term_list",
    "forget_health",
    "grant_clearance",
    "invitation_failure",
    "invite_user",
    "key_destination_changes",
    "resend_invitation",
    "revoke_approval",
    "revoke_clearance",
    "save_backend",
    "save_category",
    "save_rule",
    "save_term_list",
    "set_active",
    "set_approval_preference",
    "set_backend_enabled",
    "set_category_active",
    "set_finding_actions",
    "set_roles",
    "test_backend_connection",
]
