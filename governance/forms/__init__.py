"""Input cleaning for the governance pages: accounts, the simulator and the policy console.

One module per thing a form edits, with the checks that the REST API and a policy file's
import share; other modules import these names from here.
"""

from governance.forms.approvals import ApprovalForm
from governance.forms.backends import BackendForm
from governance.forms.categories import (
    MAX_RETENTION_DAYS,
    CategoryForm,
    RetentionCut,
    level_problem,
    region_codes_problem,
    retention_cut,
    retention_problem,
)
from governance.forms.clearances import ClearanceForm
from governance.forms.common import is_list_of_strings, is_uuid, switch_refusal, switch_value
from governance.forms.findings import FindingMatrixForm, finding_matrix_form, finding_rows
from governance.forms.people import ROLE_HELP, InviteForm, RolesForm, UnknownParty, resolve_party
from governance.forms.rules import RuleForm
from governance.forms.simulator import SimulatorForm
from governance.forms.terms import HEADING_SHOWN_CHARS, MAX_TERM_FILE_BYTES, TermListForm

__all__ = [
    "HEADING_SHOWN_CHARS",
    "MAX_RETENTION_DAYS",
    "MAX_TERM_FILE_BYTES",
    "ROLE_HELP",
    "ApprovalForm",
    "BackendForm",
    "CategoryForm",
    "ClearanceForm",
    "FindingMatrixForm",
    "InviteForm",
    "RetentionCut",
    "RolesForm",
    "RuleForm",
    "SimulatorForm",
    "TermListForm",
    "UnknownParty",
    "finding_matrix_form",
    "finding_rows",
    "is_list_of_strings",
    "is_uuid",
    "level_problem",
    "region_codes_problem",
    "resolve_party",
    "retention_cut",
    "retention_problem",
    "switch_refusal",
    "switch_value",
]
