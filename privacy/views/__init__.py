"""The privacy desk: requests from intake to receipt, legal holds, purge runs; and "Your data".

One module per area; ``privacy.urls`` takes the views from here.
"""

from privacy.views.answers import request_archive, request_letter, request_receipt
from privacy.views.breach import breach_scope, breach_scope_csv
from privacy.views.dashboard import desk
from privacy.views.legal_holds import (
    RELEASED_PER_PAGE,
    hold_release,
    hold_release_confirm,
    hold_release_withdraw,
    holds,
)
from privacy.views.own_data import mine, notice
from privacy.views.purge_runs import purge_detail, purge_now, purge_schedule, purges
from privacy.views.records import processing_records, processing_records_csv
from privacy.views.subject_requests import (
    request_approve,
    request_check_copy,
    request_detail,
    request_extend,
    request_finish,
    request_new,
    request_recipient_told,
    request_reject,
    request_reject_confirm,
    request_reject_withdraw,
    request_release,
    request_retry,
    request_scope,
    request_tell,
    request_verify,
)

__all__ = [
    "RELEASED_PER_PAGE",
    "breach_scope",
    "breach_scope_csv",
    "desk",
    "hold_release",
    "hold_release_confirm",
    "hold_release_withdraw",
    "holds",
    "mine",
    "notice",
    "processing_records",
    "processing_records_csv",
    "purge_detail",
    "purge_now",
    "purge_schedule",
    "purges",
    "request_approve",
    "request_archive",
    "request_check_copy",
    "request_detail",
    "request_extend",
    "request_finish",
    "request_letter",
    "request_new",
    "request_receipt",
    "request_recipient_told",
    "request_reject",
    "request_reject_confirm",
    "request_reject_withdraw",
    "request_release",
    "request_retry",
    "request_scope",
    "request_tell",
    "request_verify",
]
