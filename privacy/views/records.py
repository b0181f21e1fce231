"""The records of processing (GDPR Art. 30): a page, and the same as CSV."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from config.downloads import attachment
from governance.access import any_role_required
from governance.roles import Role
from privacy.records import (
    CHAT_SUBJECTS,
    OWN_RECORDS,
    SECURITY_MEASURES,
    category_records,
    controller,
    models_with_gaps,
    records,
    records_csv,
)

#: Who may read the records of processing: the privacy officers who keep them, the policy
#: admins whose configuration they describe, and the auditors who check them. They hold
#: the policy's settings only: no person's data and no credential.
record_readers = any_role_required(Role.PRIVACY_OFFICER, Role.POLICY_ADMIN, Role.AUDITOR)


@require_GET
@record_readers
def processing_records(request: HttpRequest) -> HttpResponse:
    """The records of processing (GDPR Art. 30), one per category from the live policy and
    one each for the audit trail and the staff accounts, with the gaps to fix."""
    found = category_records()
    return render(
        request,
        "privacy/records.html",
        {
            "records": found,
            "own_records": OWN_RECORDS,
            "chat_subjects": CHAT_SUBJECTS,
            "security_measures": SECURITY_MEASURES,
            "controller": controller(),
            "models_with_gaps": models_with_gaps(found),
        },
    )


@require_GET
@record_readers
def processing_records_csv(request: HttpRequest) -> HttpResponse:
    """The same records as CSV, for the register the organisation keeps."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return attachment(
        records_csv(records()),
        filename=f"records-of-processing-{stamp}.csv",
        content_type="text/csv; charset=utf-8",
    )
