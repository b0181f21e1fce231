"""A request answered after its due date says so: on its page, in the desk's closed list and
in the auditors' compliance report (GDPR Art. 12(3); CCPA asks for these figures)."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from audit.reports import Period, report_rows, summarise
from tests.privacy.conftest import receive, run


def test_a_request_answered_late_says_how_late_everywhere(
    client, officers, reader, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    late = receive(officers, received_on=today - dt.timedelta(days=40))  # GDPR: due after a month
    late = run(late, officers, django_capture_on_commit_callbacks)
    on_time = run(receive(officers, identifiers=[("email", "x@example.org")]), officers,
                  django_capture_on_commit_callbacks)  # fmt: skip
    days = (today - late.due_on).days
    assert days > 0 and late.days_late == days and on_time.days_late == 0

    client.force_login(officers[1])
    page = client.get(reverse("privacy:request", args=[late.public_id])).content.decode()
    assert f"answered {days} days late" in page
    assert (
        "late"
        not in client.get(reverse("privacy:request", args=[on_time.public_id]))
        .content.decode()
        .split("<h1>")[1]
        .split("</p>")[0]
    )

    summary = summarise(Period(today, today))
    assert [(r["reference"], r["days_late"]) for r in summary.subject_requests] == [
        (late.reference, days),
        (on_time.reference, 0),
    ]
    rows = {(row["section"], row["key"]): row["value"] for row in report_rows(summary)}
    assert rows[("subject_requests", "closed")] == 2 and rows[("subject_requests", "late")] == 1
    assert rows[("subject_requests_late", late.reference)].startswith(f"answered {days} days late")

    client.force_login(reader)
    report = client.get(reverse("audit:report")).content.decode()
    assert "1 of 2 late" in report and late.reference in report


def test_the_report_says_what_requesters_were_told_late_or_not_told(
    client, officers, reader, django_capture_on_commit_callbacks
):
    from privacy import notices

    today = timezone.localdate()
    received = today - dt.timedelta(days=20)
    told = receive(officers, regime="ccpa", received_on=received)
    notices.record_notice(request=told, actor=officers[0], topic="receipt", channel="email",
                          told_on=today)  # fmt: skip
    told = run(told, officers, django_capture_on_commit_callbacks)
    notices.record_notice(request=told, actor=officers[0], topic="outcome", channel="letter",
                          told_on=today)  # fmt: skip
    untold = run(receive(officers, identifiers=[("email", "x@example.org")]), officers,
                 django_capture_on_commit_callbacks)  # fmt: skip

    summary = summarise(Period(today, today))
    assert [r["reference"] for r in summary.subject_requests_told_late] == [told.reference]
    assert [r["reference"] for r in summary.subject_requests_outcome_untold] == [untold.reference]
    rows = {(row["section"], row["key"]): row["value"] for row in report_rows(summary)}
    assert rows[("subject_requests_told_late", told.reference)] == "receipt"
    assert rows[("subject_requests_outcome_not_recorded_as_told", untold.reference)] == "answered"

    client.force_login(reader)
    report = client.get(reverse("audit:report")).content.decode()
    assert (
        f"Telling the requester: 1 told something after its day ({told.reference}: receipt); "
        f"1 with no record that the requester was told the outcome ({untold.reference})."
    ) in report
