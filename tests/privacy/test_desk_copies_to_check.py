"""Access copies waiting for an officer's check: the person sees "being checked" until an
officer releases the copy, but a completed request left the desk's open requests, and the
daily reminder did not name it, so a copy could wait unseen. The desk lists each one (a tile
counts those the reader may check), and the reminder names those waiting more than a day. An
officer a copy is about reads it on the desk as its page shows it to them (another officer
checks it), and is not reminded to check it."""

import datetime as dt
import html
import itertools
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from governance.roles import Role
from privacy import archive, reminders
from privacy.models import SubjectRequest
from privacy.views.dashboard import _copies_to_check
from tests.factories import make_user

pytestmark = pytest.mark.django_db

K, S = SubjectRequest.Kind, SubjectRequest.Status
numbers = itertools.count(1)
TILE = '<span class="stat-label">access cop'
RECENTLY_CLOSED_NOTE = "Copy waiting for its check: the person cannot download it yet"


@pytest.fixture
def alice(db):
    return make_user("alice@corp.example", Role.STAFF, full_name="Alice Example")


def _copy(officers, person, *, made_days_ago: int = 0, due_in: int = 10, **fields):
    """A completed access request about ``person``'s account, its copy made ``made_days_ago``
    and holding other people's messages: it waits for an officer's check (unless ``fields``
    say otherwise)."""
    today = timezone.localdate()
    values = {
        "reference": f"DSR-2026-{next(numbers):04}",
        "kind": K.ACCESS,
        "regime": SubjectRequest.Regime.GDPR,
        "status": S.COMPLETED,
        "subject_user": person,
        "received_on": today - dt.timedelta(days=30 - due_in),
        "due_on": today + dt.timedelta(days=due_in),
        "completed_at": timezone.now() - dt.timedelta(days=made_days_ago),
        "receipt": {"counts": {"conversations": 1, "mentions": 2}},
        "archive_sealed": b"sealed",
        "created_by": officers[0],
    }
    values.update(fields)
    return SubjectRequest.objects.create(**values)


def _text(response) -> str:
    assert response.status_code == 200
    return " ".join(html.unescape(response.content.decode()).split())


def _desk(client, officer) -> str:
    client.force_login(officer)
    return _text(client.get(reverse("privacy:desk")))


def _line(page: str, request: SubjectRequest) -> str:
    return page.split(f">{request.reference}</a>")[1].split("</li>")[0]


def _url(request: SubjectRequest) -> str:
    return reverse("privacy:request", args=[request.public_id])


# --- the desk --------------------------------------------------------------------------------


def test_the_desk_lists_each_copy_waiting_for_its_check_the_longest_waiting_first(
    client, officers, alice
):
    late = _copy(officers, alice, made_days_ago=6, due_in=-2)
    fresh = _copy(officers, officers[1], made_days_ago=0, due_in=12)
    page = _desk(client, officers[0])

    assert "<h2>Access copies waiting for their check</h2>" in page
    assert page.index(f">{late.reference}</a>") < page.index(f">{fresh.reference}</a>")
    assert f'<a href="{_url(late)}#copy-check">{late.reference}</a>' in page
    made = timezone.localdate(late.completed_at)
    assert _line(page, late) == (
        f' <span class="small muted">completed {made:%-d %b %Y}</span> — for Alice Example, '
        f'waiting 6 days; <span class="due due-overdue">was due {late.due_on:%-d %b %Y}: 2 days '
        "late so far</span>."
    )
    assert _line(page, fresh).endswith(
        f"— for Omar, waiting since today; due {fresh.due_on:%-d %b %Y}."
    )
    assert '<span class="stat-value">2</span><span class="stat-label">access copies to check<' in (
        page
    )
    assert page.count(RECENTLY_CLOSED_NOTE) == 2  # not "Completed" alone in Recently closed

    archive.release(request=late, actor=officers[0])
    page = _desk(client, officers[0])
    assert f">{late.reference}</a> <span" not in page
    assert '<span class="stat-value">1</span><span class="stat-label">access copy to check<' in (
        page
    )
    assert page.count(RECENTLY_CLOSED_NOTE) == 1


def test_a_copy_not_waiting_for_a_check_is_not_listed(client, officers, alice):
    """Released (at once, or by an officer), expired or withdrawn, an erasure, or the copy of
    someone without an account (an officer downloads it and sends it on): none waits."""
    now = timezone.now()
    _copy(officers, alice, archive_released_at=now)
    _copy(officers, alice, archive_dropped_at=now, archive_sealed=b"")
    _copy(officers, alice, kind=K.ERASURE, archive_sealed=b"")
    _copy(officers, None, digests=["ab" * 32])
    _copy(officers, alice, status=S.EXECUTING, completed_at=None)
    page = _desk(client, officers[0])
    assert "Access copies waiting" not in page and TILE not in page


def test_the_query_finds_what_each_request_says_is_being_checked(officers, alice):
    """The desk's and the reminder's filter, beside the property the person's pages read."""
    now = timezone.now()
    requests = [
        _copy(officers, alice),
        _copy(officers, alice, archive_released_at=now),
        _copy(officers, alice, archive_dropped_at=now),
        _copy(officers, alice, kind=K.ERASURE),
        _copy(officers, None),
        _copy(officers, alice, status=S.REJECTED),
    ]
    found = set(SubjectRequest.objects.copies_being_checked())
    assert found == {request for request in requests if request.copy_being_checked}
    assert len(found) == 1


def test_the_officer_a_copy_is_about_reads_that_another_officer_checks_it(client, officers):
    """As the request's page shows it to them: the person's view, with no check to make.
    Their tile does not count it; the other officer's does, and links to the check."""
    priya, omar = officers
    theirs = _copy(officers, priya, made_days_ago=3)
    page = _desk(client, priya)
    assert f'<a href="{_url(theirs)}">{theirs.reference}</a>' in page
    assert "#copy-check" not in page
    assert _line(page, theirs).startswith(
        f' <span class="small muted">completed {timezone.localdate(theirs.completed_at):%-d %b %Y}'
        "</span> — your own copy: another privacy officer checks it. Waiting 3 days;"
    )
    assert TILE not in page

    page = _desk(client, omar)
    assert f'<a href="{_url(theirs)}#copy-check">{theirs.reference}</a>' in page
    assert "— for Priya, waiting 3 days;" in page
    assert '<span class="stat-value">1</span><span class="stat-label">access copy to check<' in (
        page
    )
    assert page.count(RECENTLY_CLOSED_NOTE) == 1


def test_the_copies_cost_the_desk_the_same_queries_however_many(client, officers, alice):
    client.force_login(officers[0])
    _copy(officers, alice)
    client.get(reverse("privacy:desk"))  # what a process reads once

    def queries() -> int:
        with CaptureQueriesContext(connection) as asked:
            assert client.get(reverse("privacy:desk")).status_code == 200
        return len(asked)

    one = queries()
    for person in (alice, officers[1], alice, officers[0]):
        _copy(officers, person)
    assert queries() == one
    page = _desk(client, officers[0])
    assert page.count("— for Alice Example, waiting") == 3
    assert page.count("— for Omar, waiting") == 1 and page.count("— your own copy") == 1


# --- the days a copy has waited, one rule for the desk and the reminder --------------------


def test_a_copy_counts_its_wait_and_lateness_in_local_days(officers, alice, settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    made = dt.datetime(2026, 5, 3, 0, 30, tzinfo=ZoneInfo("Pacific/Auckland"))  # 2 May in UTC
    copy = _copy(officers, alice, completed_at=made, due_on=dt.date(2026, 5, 5))
    assert copy.days_copy_waited(dt.date(2026, 5, 3)) == 0
    assert copy.days_copy_waited(dt.date(2026, 5, 4)) == 1
    assert copy.days_overdue(dt.date(2026, 5, 5)) == 0
    assert copy.days_overdue(dt.date(2026, 5, 8)) == 3


def test_the_desk_and_the_reminder_count_a_copy_alike(officers, alice):
    today = timezone.localdate()
    _copy(officers, alice, made_days_ago=5, due_in=-2)
    (listed,) = _copies_to_check(officers[0], today=today)
    (reminded,) = reminders.copies_to_check(today)
    assert (listed.waiting, listed.late) == (reminded.waiting, reminded.overdue_by) == (5, 2)


# --- the daily reminder ----------------------------------------------------------------------


def _page(request: SubjectRequest, anchor: str = "") -> str:
    from django.conf import settings

    return f"http://127.0.0.1:{settings.PORT}{_url(request)}{anchor}"


def test_a_copy_waiting_more_than_a_day_is_reminded_once_a_day(officers, alice):
    today = timezone.localdate()
    copy = _copy(officers, alice, made_days_ago=1, due_in=15)
    assert reminders.send() == 0, "made yesterday: not yet"
    SubjectRequest.objects.filter(pk=copy.pk).update(
        completed_at=timezone.now() - dt.timedelta(days=2)
    )
    assert reminders.send() == 1
    (email,) = mail.outbox
    assert email.subject == "Steward: 1 access copy to check"
    made = today - dt.timedelta(days=2)
    assert (
        f"- {copy.reference}, made on {made:%-d %B %Y}: waiting 2 days for its check, by "
        f"{copy.due_on:%-d %B %Y}: {_page(copy, '#copy-check')}\n"
    ) in email.body
    assert "alice" not in (email.subject + email.body).lower()
    assert "A copy is reminded once it has waited 2 days" in email.body
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED)
    assert event.details["copies_to_check"] == [copy.reference]
    assert SubjectRequest.objects.get(pk=copy.pk).reminded_on == today
    assert reminders.send() == 0, "once a day"


def test_an_overdue_copy_comes_first_and_says_so(officers, alice):
    waiting = _copy(officers, alice, made_days_ago=9, due_in=20)
    late = _copy(officers, alice, made_days_ago=4, due_in=-3)
    reminders.send()
    (email,) = mail.outbox
    assert "2 access copies to check (1 OVERDUE)" in email.subject
    lines = [line for line in email.body.splitlines() if "for its check" in line]
    assert [line.split(",")[0] for line in lines] == [
        f"- {late.reference}",
        f"- {waiting.reference}",
    ]
    assert f"OVERDUE by 3 days, was due {late.due_on:%-d %B %Y}" in lines[0]


def test_the_officer_a_copy_is_about_is_not_reminded_to_check_it(officers, alice):
    """Omar's own copy waits: Priya is reminded to check it, Omar is not; with nothing else
    to read, he gets no mail."""
    priya, omar = officers
    his = _copy(officers, omar, made_days_ago=3)
    assert reminders.send() == 1
    (email,) = mail.outbox
    assert email.to == [priya.email] and his.reference in email.body

    SubjectRequest.objects.update(reminded_on=None)
    other = _copy(officers, alice, made_days_ago=3)
    mail.outbox.clear()
    assert reminders.send() == 2
    mails = {tuple(sent.to): sent for sent in mail.outbox}
    assert sorted(mails) == [(omar.email,), (priya.email,)]
    assert his.reference not in mails[(omar.email,)].body
    assert other.reference in mails[(omar.email,)].body
    assert mails[(omar.email,)].subject == "Steward: 1 access copy to check"
    assert mails[(priya.email,)].subject == "Steward: 2 access copies to check"
