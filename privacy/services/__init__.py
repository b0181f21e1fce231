"""Data-subject requests and legal holds: every step one transaction with its audit event.

The audit trail names a request by its reference and the subject by keyed
hashes only; the identifier itself never reaches it.

One module per part: ``common`` (the refusals, the lock and the audit event every step
shares), ``intake`` (recording a request), ``workflow`` (verifying, scoping, approving,
extending), ``rejections`` (four-eyes rejection), ``holds`` (legal holds), ``follow_ups``
(erasures a hold kept from finishing), ``identifiers`` (what a follow-up must give again)
and ``purges`` (the retention purge, by hand and on schedule); other modules import these
names from here. ``common`` is imported first: ``privacy.notices``, which the steps use,
imports its names from here while the rest load.
"""

from privacy.services.common import (
    FieldRefused,
    FourEyesError,
    IdentifiersMissing,
    PrivacyError,
    receipt_hash,
    record_step,
    refuse_the_subject,
)
from privacy.services.follow_ups import (
    LeftBehind,
    erasures_to_finish,
    finish_erasure,
    left_behind,
)
from privacy.services.holds import (
    ask_release,
    is_held,
    place_hold,
    release_hold,
    withdraw_release,
)
from privacy.services.identifiers import IDENTIFIER_WORDS, _counted, _identifiers_named
from privacy.services.intake import DUPLICATE_WINDOW, receive_request, request_own_data
from privacy.services.purges import (
    PURGE_TASK_NAME,
    purge_schedule,
    schedule_in_local_time,
    schedule_label,
    set_purge_schedule,
    start_purge,
)
from privacy.services.rejections import (
    EARLIER_REQUEST_FIELDS,
    EARLIER_REQUESTS_MONTHS,
    EXCESSIVE_WITHOUT_EVIDENCE,
    PROPOSAL_FIELDS,
    EarlierRequest,
    confirm_rejection,
    earlier_requests,
    propose_rejection,
    withdraw_rejection,
)
from privacy.services.workflow import (
    approve_request,
    extend_request,
    scope_request,
    verify_identity,
)

__all__ = [
    "DUPLICATE_WINDOW",
    "EARLIER_REQUESTS_MONTHS",
    "EARLIER_REQUEST_FIELDS",
    "EXCESSIVE_WITHOUT_EVIDENCE",
    "IDENTIFIER_WORDS",
    "PROPOSAL_FIELDS",
    "PURGE_TASK_NAME",
    "EarlierRequest",
    "FieldRefused",
    "FourEyesError",
    "IdentifiersMissing",
    "LeftBehind",
    "PrivacyError",
    "_counted",
    "_identifiers_named",
    "approve_request",
    "ask_release",
    "confirm_rejection",
    "earlier_requests",
    "erasures_to_finish",
    "extend_request",
    "finish_erasure",
    "is_held",
    "left_behind",
    "place_hold",
    "propose_rejection",
    "purge_schedule",
    "receipt_hash",
    "receive_request",
    "record_step",
    "refuse_the_subject",
    "release_hold",
    "request_own_data",
    "scope_request",
    "schedule_in_local_time",
    "schedule_label",
    "set_purge_schedule",
    "start_purge",
    "verify_identity",
    "withdraw_rejection",
    "withdraw_release",
]
