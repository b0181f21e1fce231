"""The privacy desk with a backlog: every open request and every erasure with providers to
tell is listed (officers see all their work), so each line must stay cheap. With 500 open
requests, a template included per row (and its filters) were four fifths of the page's
time (bench/privacy_desk.py)."""

import datetime as dt
import html
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from privacy.models import RequesterNotice, SubjectRequest

pytestmark = pytest.mark.django_db

S = SubjectRequest.Status
OWED = {"backend": "Vendor API", "hosting_class": "external_api", "calls": 3, "in_clear": 2}
numbers = itertools.count(1)


def _open(officers, *, status=S.RECEIVED, due_in=20, **fields) -> SubjectRequest:
    today = timezone.localdate()
    values = {
        "reference": f"DSR-2026-{next(numbers):04}",
        "kind": SubjectRequest.Kind.ACCESS,
        "regime": SubjectRequest.Regime.GDPR,
        "status": status,
        "received_on": today - dt.timedelta(days=30 - due_in),
        "due_on": today + dt.timedelta(days=due_in),
        "created_by": officers[0],
    }
    values.update(fields)
    return SubjectRequest.objects.create(**values)


def _erasure_to_tell(officers) -> SubjectRequest:
    return _open(officers, status=S.COMPLETED, kind=SubjectRequest.Kind.ERASURE,
                 completed_at=timezone.now(), receipt={"recipients": [OWED]})  # fmt: skip


def _templates_and_queries(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("privacy:desk"))
    assert response.status_code == 200
    return len(response.templates), len(queries)


def test_the_desk_renders_no_template_and_asks_no_query_per_listed_request(client, officers):
    """The lines of the open requests and of the erasures to tell are the desk's own markup:
    the page renders as many templates, and asks as many queries, for 6 of each as for 1."""
    client.force_login(officers[0])
    _open(officers)
    _erasure_to_tell(officers)
    _templates_and_queries(client)  # what a process reads once (when the records began)
    few = _templates_and_queries(client)
    for _ in range(5):
        _open(officers, status=S.SCOPED, scoped_by=officers[1])
        _erasure_to_tell(officers)
    assert _templates_and_queries(client) == few


def test_each_open_request_says_where_it_stands_and_when_it_is_due(client, officers):
    """What each line showed when it was a template of its own, worked out in the view."""
    overdue = _open(officers, due_in=-3)
    today = _open(officers, due_in=0, regime=SubjectRequest.Regime.CCPA)
    soon = _open(officers, status=S.SCOPED, due_in=1, scoped_by=officers[1],
                 kind=SubjectRequest.Kind.ERASURE, subject_user=officers[1])  # fmt: skip
    later = _open(officers, status=S.FAILED, due_in=40)
    executing = _open(officers, status=S.EXECUTING, due_in=9)
    RequesterNotice.objects.create(request=later, topic=RequesterNotice.Topic.RECEIPT,
                                   channel="email", told_on=later.received_on)  # fmt: skip
    client.force_login(officers[0])
    page = html.unescape(client.get(reverse("privacy:desk")).content.decode())
    rows = {
        request: page.split(f">{request.reference}<")[1].split("</tr>")[0]
        for request in (overdue, today, soon, later, executing)
    }
    day = "{:%-d %b %Y}".format
    overdue_due = f'<span class="due due-overdue">overdue: was due {day(overdue.due_on)}</span>'
    assert overdue_due in rows[overdue]
    assert '<span class="due due-soon">due today</span> <span class="small muted">' in rows[today]
    assert "CCPA · received" in rows[today] and '<span class="badge">Received</span>' in rows[today]
    receipt_due = today.notice_due_on(RequesterNotice.Topic.RECEIPT)
    assert (
        f'<span class="cell-note due-overdue">Tell them: the request was received '
        f"(was due {receipt_due:%-d %b})</span>"
    ) in rows[today]
    assert "Tell them: the request was received</span>" in rows[overdue]
    assert '<span class="due due-soon">1 day left</span>' in rows[soon]
    assert "you may approve it" in rows[soon] and " · staff member" in rows[soon]
    assert '<td data-label="Kind">Erasure</td>' in rows[soon]
    assert '<span class="badge badge-danger">Failed</span>' in rows[later]
    later_due = (
        f'<span class="due">40 days left</span> <span class="small muted">{day(later.due_on)}'
    )
    assert later_due in rows[later]
    assert "Tell them" not in rows[later] and "approve" not in rows[later]
    assert '<span class="badge badge-warn">Executing</span>' in rows[executing]
    assert f"received {day(overdue.received_on)}" in rows[overdue]
    assert f'href="{reverse("privacy:request", args=[overdue.public_id])}"' in page
    assert '>1</span><span class="stat-label">overdue<' in page


def test_each_erasure_to_tell_links_to_where_the_notices_are_recorded(client, officers):
    erasure = _erasure_to_tell(officers)
    client.force_login(officers[0])
    page = html.unescape(client.get(reverse("privacy:desk")).content.decode())
    url = reverse("privacy:request", args=[erasure.public_id])
    completed = timezone.localdate(erasure.completed_at)
    assert (
        f'<a href="{url}#recipients-told">{erasure.reference}</a> <span class="small muted">'
        f"completed {completed:%-d %b %Y}</span> — 1 provider to tell."
    ) in page
