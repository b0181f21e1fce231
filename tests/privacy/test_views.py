"""The privacy desk's pages: the workflow through the browser's forms, and who sees what."""

import datetime as dt
import html
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.roles import Role
from privacy import services
from privacy.models import LegalHold, PurgeRun, SubjectRequest
from tests.asked_here import asked
from tests.factories import make_user
from tests.privacy.conftest import make_conversation, receive, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def first(client, officers):
    client.force_login(officers[0])
    return client


def _intake(client, **overrides):
    data = {
        "kind": "erasure",
        "regime": "gdpr",
        "received_on": dt.date.today().isoformat(),
        "email": "jane@example.org",
    }
    data.update(overrides)
    return client.post(reverse("privacy:request_new"), data)


def test_it_records_a_request_and_shows_its_due_date(first):
    response = _intake(first, received_on="2026-01-31")
    request = SubjectRequest.objects.get()
    assert response.status_code == 302 and str(request.public_id) in response["Location"]
    assert request.due_on == dt.date(2026, 2, 28)
    page = first.get(response["Location"])
    assert b"DSR-2026-0001" in page.content and b"jane@example.org" in page.content


def test_an_intake_submitted_twice_is_refused_the_second_time_naming_the_first(first):
    """A double click on "Record the request" records it once; the second submit is told
    which request it already is, and keeps what was typed."""
    _intake(first, note="Letter of 3 March")
    again = _intake(first, note="Letter of 3 March")
    request = SubjectRequest.objects.get()
    assert again.status_code == 422
    assert request.reference.encode() in again.content and b"Letter of 3 March" in again.content


def test_bad_intake_answers_422_with_the_reason_and_keeps_the_input(first):
    response = first.post(
        reverse("privacy:request_new"),
        {"kind": "access", "regime": "ccpa", "received_on": "2999-01-01", "name": "Jane Roe"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert b"cannot be in the future" in response.content
    assert b">\nJane Roe</textarea>" in response.content  # the box takes one per line
    assert b"<html" not in response.content
    assert not SubjectRequest.objects.exists()


@pytest.mark.parametrize("received_on", ["0001-01-01", "2020-03-04"])
def test_an_intake_received_more_than_a_year_ago_is_refused_as_a_likely_typo(first, received_on):
    """Year 1 (or 0202 for 2026) made a request due two thousand years ago, "overdue" on
    every list; a request more than a year old is not an intake's to record."""
    response = first.post(
        reverse("privacy:request_new"),
        {"kind": "access", "regime": "gdpr", "received_on": received_on, "name": "Jane Roe"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert b"more than a year ago: check the year" in response.content
    assert not SubjectRequest.objects.exists()


def test_the_workflow_runs_through_the_pages_with_four_eyes(
    client, officers, org, django_capture_on_commit_callbacks
):
    make_conversation(org.alice, org.internal)
    client.force_login(officers[0])
    _intake(client)
    request = SubjectRequest.objects.get()
    base = f"/privacy/requests/{request.public_id}/"
    client.post(base + "verify/", {"method": "Called the number on file"})
    client.post(base + "scope/")
    response = client.post(base + "approve/", follow=True)
    assert b"Someone other than the person who scoped" in response.content
    client.force_login(officers[1])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(base + "approve/")
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.COMPLETED  # eager Celery in tests
    receipt = client.get(asked(client, base + "receipt.json"))
    assert receipt.status_code == 200 and request.receipt_hash.encode() in receipt.content


def test_a_step_without_its_reason_answers_422(first, officers):
    _intake(first)
    request = SubjectRequest.objects.get()
    response = first.post(f"/privacy/requests/{request.public_id}/reject/", {"reason": ""})
    assert response.status_code == 422
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.RECEIVED


def test_staff_ask_for_their_own_data_and_see_only_their_requests(client, org, officers):
    client.force_login(org.alice)
    client.post(reverse("privacy:mine"), {"kind": "access"})
    own = SubjectRequest.objects.get(subject_user=org.alice)
    assert own.status == SubjectRequest.Status.VERIFIED
    assert client.get(f"/privacy/requests/{own.public_id}/").status_code == 200
    client.force_login(org.carol)
    assert client.get(f"/privacy/requests/{own.public_id}/").status_code == 404
    assert client.post(f"/privacy/requests/{own.public_id}/scope/").status_code == 403


def test_a_persons_own_request_page_speaks_to_them_not_to_the_officers(client, org, officers):
    """It read "Scope the request: count what it reaches", an officer's instruction, under
    steps named "Scoped" and "Executing"."""
    client.force_login(org.alice)
    client.post(reverse("privacy:mine"), {"kind": "erasure"})
    own = SubjectRequest.objects.get(subject_user=org.alice)
    page = client.get(f"/privacy/requests/{own.public_id}/").text
    assert "The privacy team is finding what the request reaches." in page
    assert "Scope the request" not in page and "Scoped" not in page
    assert "Data found" in page and "<dd>you</dd>" in page
    client.force_login(officers[0])
    page = client.get(f"/privacy/requests/{own.public_id}/").text
    assert "Scope the request: count what it reaches." in page and "Scoped" in page


def test_the_desk_and_your_data_list_requests_without_reading_their_archives(first, officers):
    """An access archive is megabytes: the desk's lists and "Your data" never select one,
    and ask the same queries for 2 completed requests as for 6."""

    numbers = itertools.count(1)

    def completed_access(how_many: int) -> None:
        for _ in range(how_many):
            SubjectRequest.objects.create(
                reference=f"DSR-2026-{next(numbers):04}", kind=SubjectRequest.Kind.ACCESS,
                regime=SubjectRequest.Regime.GDPR, status=SubjectRequest.Status.COMPLETED,
                subject_user=officers[0], received_on=timezone.localdate(),
                due_on=timezone.localdate(), completed_at=timezone.now(), archive_sealed=b"zip",
            )  # fmt: skip

    def selects(path: str) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            page = first.get(path).content.decode()
        assert "DSR-2026-0001" in page
        return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]

    column = '"privacy_subjectrequest"."archive_sealed"'
    for path in (reverse("privacy:desk"), reverse("privacy:mine")):
        completed_access(2)
        selects(path)  # once first: what a process reads once (a migration's date) is read
        small = selects(path)
        completed_access(4)
        large = selects(path)
        assert len(large) == len(small), path
        assert not [sql for sql in large if f"{column}," in sql or f"{column} FROM" in sql], path


def test_it_places_and_releases_a_hold_with_four_eyes(first, officers, org):
    response = first.post(reverse("privacy:holds"), {"person": org.alice.email, "reason": "Case 9"})
    assert response.status_code == 302
    hold = LegalHold.objects.get()
    first.post(f"/privacy/holds/{hold.public_id}/release/", {"reason": "Settled"})
    hold.refresh_from_db()
    assert hold.active and hold.release_asked and hold.release_reason == "Settled"
    first.force_login(officers[1])
    page = first.get(reverse("privacy:holds")).content.decode()
    asked_at = hold.release_asked_at.isoformat()
    assert f'name="asked_at" value="{asked_at}"' in page
    first.post(f"/privacy/holds/{hold.public_id}/release/confirm/", {"asked_at": asked_at})
    hold.refresh_from_db()
    assert hold.released_at and hold.released_by == officers[1]


def test_a_hold_on_a_mistyped_conversation_id_says_so_once_in_words(first, org):
    """It said "Hold either a person or one conversation." (one was given) and "Enter a
    valid UUID." together."""
    response = first.post("/privacy/holds/", {"conversation": "dd8c85bb-12", "reason": "Case 7"})
    assert response.status_code == 422
    page = html.unescape(response.content.decode())
    assert "That is not a conversation id: one looks like" in page
    assert "Hold either a person or one conversation." not in page and "UUID" not in page
    assert "Case 7" in page  # what was typed is kept
    assert not LegalHold.objects.exists()


def test_the_holds_page_lists_every_active_hold_and_pages_the_released_ones(first, org):
    """An active hold placed long ago is on the page that releases it however many holds
    came since; the released ones come a page at a time, with how many there are."""
    from privacy.views import RELEASED_PER_PAGE

    now = timezone.now()
    old = LegalHold.objects.create(
        user=org.alice, reason="Litigation 2025", placed_at=now - dt.timedelta(days=300)
    )

    def release(how_many: int) -> None:
        for _ in range(how_many):
            LegalHold.objects.create(
                user=org.carol, reason="Closed case", placed_at=now - dt.timedelta(days=1),
                released_at=now, release_reason="done",
            )  # fmt: skip

    def holds_page(query: str = "") -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            page = first.get(reverse("privacy:holds") + query).content.decode()
        return len(queries), page

    holds_page()  # the first page after signing in saves the session too
    release(5)
    small, page = holds_page()
    assert f"release-{old.public_id}" in page and "Released (5)" in page
    assert page.count("Closed case") == 5
    release(2 * RELEASED_PER_PAGE + 10)
    large, page = holds_page()
    assert f"release-{old.public_id}" in page and "Active holds (1)" in page
    assert f"Released ({2 * RELEASED_PER_PAGE + 15})" in page
    assert page.count("Closed case") == RELEASED_PER_PAGE
    assert large == small
    _, last = holds_page("?page=3")
    assert last.count("Closed case") == 15 and f"release-{old.public_id}" in last


def test_purge_now_runs_and_the_page_follows_it(first, org, django_capture_on_commit_callbacks):
    make_conversation(org.alice, org.internal, days_idle=45)
    with django_capture_on_commit_callbacks(execute=True):
        response = first.post(reverse("privacy:purge_now"))
    run = PurgeRun.objects.get()
    assert response["Location"] == f"/privacy/purges/{run.public_id}/"
    assert run.status == PurgeRun.Status.DONE and run.done_conversations == 1
    partial = first.get(
        response["Location"], HTTP_HX_REQUEST="true", HTTP_HX_TARGET="purge-progress"
    ).content.decode()
    assert 'id="purge-progress"' in partial and "<html" not in partial
    # The poll that finds the run over says so in the status line the page keeps (the
    # card itself is swapped whole every second, which a screen reader does not read out).
    assert '<p id="purge-announce" hx-swap-oob="innerHTML">The purge is done.</p>' in partial
    page = first.get(response["Location"]).content.decode()
    assert '<p id="purge-announce" class="visually-hidden" role="status"' in page
    assert "The purge is done" not in page  # opened afterwards: nothing to announce


def test_the_dry_run_lists_without_deleting(first, org):
    make_conversation(org.alice, org.internal, days_idle=45)
    page = first.get(reverse("privacy:purges") + "?preview=1")
    assert b"the next purge would remove" in page.content
    assert org.alice.conversations.count() == 1


def test_it_moves_the_schedule(first):
    from django_celery_beat.models import PeriodicTask

    first.post(reverse("privacy:purge_schedule"), {"hour": "4", "minute": "15", "enabled": "on"})
    task = PeriodicTask.objects.get(name="retention-purge")
    assert (task.crontab.hour, task.crontab.minute, task.enabled) == ("4", "15", True)
    page = first.get(reverse("privacy:purges"))
    assert b"daily at 04:15 UTC" in page.content


def _page(client, request) -> str:
    return client.get(reverse("privacy:request", args=[request.public_id])).content.decode()


def test_a_request_approved_but_not_running_can_still_be_extended_and_says_so(
    client, officers, django_capture_on_commit_callbacks
):
    """Its task was lost on the way (the broker was down): it waits for the sweep, and its
    deadline still runs, so the officer can extend it and is told it has not started."""
    request = receive(officers, received_on=timezone.localdate() - dt.timedelta(days=29))
    request = run(request, officers, django_capture_on_commit_callbacks, execute=False)
    SubjectRequest.objects.filter(pk=request.pk).update(
        approved_at=timezone.now() - dt.timedelta(minutes=20)
    )
    client.force_login(officers[0])
    page = _page(client, request)
    assert reverse("privacy:request_extend", args=[request.public_id]) in page
    assert "No worker has started it" in page


def test_the_followed_run_asks_for_the_whole_page_once_it_ends(
    client, officers, org, django_capture_on_commit_callbacks
):
    """The polled card is not where the receipt and archive buttons are: once the run has
    ended, the answer asks htmx to reload the page."""
    make_conversation(org.alice, org.internal)
    request = receive(
        officers,
        kind=SubjectRequest.Kind.ACCESS,
        identifiers=[("email", org.alice.email)],
        subject_user=org.alice,
    )
    request = run(request, officers, django_capture_on_commit_callbacks)
    client.force_login(officers[0])
    url = reverse("privacy:request", args=[request.public_id])
    polled = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="request-progress")
    assert polled.headers.get("HX-Refresh") == "true"
    assert b"Completed" in polled.content and b"<html" not in polled.content
    # The page loaded again says how the run ended, in a message that takes the focus.
    reloaded = _page(client, request)
    assert (
        '<div class="flash flash-success" role="status" tabindex="-1" data-announce>\n'
        f"    <span>{request.reference}: the archive is ready.</span>"
    ) in reloaded
    assert "data-announce" not in _page(client, request)  # said once


def test_a_followed_run_that_failed_says_so_when_the_page_loads_again(
    client, officers, org, django_capture_on_commit_callbacks
):
    request = receive(officers, identifiers=[("email", org.alice.email)])
    request = run(request, officers, django_capture_on_commit_callbacks, execute=False)
    SubjectRequest.objects.filter(pk=request.pk).update(
        status=SubjectRequest.Status.FAILED, error="The database went away."
    )
    client.force_login(officers[0])
    url = reverse("privacy:request", args=[request.public_id])
    polled = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="request-progress")
    assert polled.headers.get("HX-Refresh") == "true"
    reloaded = _page(client, request)
    assert '<div class="flash flash-error" role="status" tabindex="-1" data-announce>' in reloaded
    assert f"{request.reference}: the execution stopped (Failed). Where it stands" in reloaded


def test_an_overdue_request_explains_why_it_can_no_longer_be_extended(client, officers):
    request = receive(officers, received_on=timezone.localdate() - dt.timedelta(days=40))
    client.force_login(officers[0])
    page = _page(client, request)
    assert reverse("privacy:request_extend", args=[request.public_id]) not in page
    assert "an extension had to be given" in page


def test_an_overdue_request_says_the_day_it_was_due(client, officers):
    """Overdue the day after the due day: it was due on that day, not overdue since it."""
    request = receive(officers, received_on=timezone.localdate() - dt.timedelta(days=40))
    client.force_login(officers[0])
    page = _page(client, request)
    assert f"overdue: was due {request.due_on:%-d %b %Y}" in page
    assert "overdue since" not in page


def test_the_subject_sees_neither_the_scope_nor_the_officers_note(client, officers, org):
    """The scope (mention counts, a legal hold on them) and the intake note are the
    desk's working notes: the person the request is about does not see them."""
    make_conversation(org.alice, org.internal)
    services.place_hold(actor=officers[0], reason="HR investigation 7", user=org.alice)
    request = receive(
        officers,
        kind=SubjectRequest.Kind.ACCESS,
        identifiers=[("email", org.alice.email)],
        subject_user=org.alice,
        note="Letter came via her lawyer; HR says dismissal pending",
    )
    request = services.verify_identity(request=request, actor=officers[0], method="Called")
    services.scope_request(request=request, actor=officers[1])
    client.force_login(org.alice)
    page = _page(client, request)
    assert "Legal hold" not in page and "Mentions" not in page
    assert "dismissal pending" not in page
    client.force_login(officers[0])
    page = _page(client, request)
    assert "Legal hold" in page and "dismissal pending" in page


def test_an_officer_is_not_offered_the_steps_of_a_request_about_themselves(client, officers):
    priya = officers[0]
    request = services.request_own_data(user=priya, kind=SubjectRequest.Kind.ACCESS)
    client.force_login(priya)
    page = _page(client, request)
    assert reverse("privacy:request_scope", args=[request.public_id]) not in page
    assert "This request is about you" in page


def test_an_officer_the_request_is_about_sees_neither_the_note_nor_the_scope(client, officers):
    """The officers' note ("after HR dispute with Bob") and what the scope counted are the
    officers' working notes: the officer it is about reads the page as its subject does."""
    priya, oscar = officers[0], officers[1]
    request = receive(
        officers,
        identifiers=[("email", oscar.email)],
        subject_user=oscar,
        note="Asked after the HR dispute",
    )
    request = services.verify_identity(request=request, actor=priya, method="Called")
    services.scope_request(request=request, actor=priya)
    client.force_login(oscar)
    page = _page(client, request)
    assert "HR dispute" not in page and "Mentions" not in page
    client.force_login(priya)
    page = _page(client, request)
    assert "HR dispute" in page and "Mentions" in page


def test_a_request_nobody_may_approve_says_a_third_officer_is_needed(client, officers):
    """Two officers, the request about one, scoped by the other: neither may approve it,
    and only a log line said so while its deadline ran."""
    priya, oscar = officers
    request = receive(officers, identifiers=[("email", oscar.email)], subject_user=oscar)
    request = services.verify_identity(request=request, actor=priya, method="Called")
    services.scope_request(request=request, actor=priya)
    client.force_login(priya)
    assert "No privacy officer may approve it" in _page(client, request)
    make_user("olga@corp.example", Role.PRIVACY_OFFICER, full_name="Olga")
    assert "No privacy officer may approve it" not in _page(client, request)


def _desk(client) -> str:
    return client.get(reverse("privacy:desk")).content.decode()


def test_the_desk_raises_the_alarm_when_the_last_purge_failed(first, org):
    """Content past its window stays stored while purges fail: the privacy officer must
    see it where they look every day, not only in the purge history."""
    failed = PurgeRun.objects.create(status=PurgeRun.Status.FAILED, errors=["DatabaseError"])
    page = _desk(first)
    assert "The last purge" in page and "failed" in page
    assert reverse("privacy:purge", args=[failed.public_id]) in page
    PurgeRun.objects.create(status=PurgeRun.Status.DONE, finished_at=timezone.now())
    assert "The last purge" not in _desk(first)  # its retry went through


def test_the_desk_raises_the_alarm_when_expired_content_waits_for_a_purge_that_does_not_run(
    first, org
):
    make_conversation(org.alice, org.internal, days_idle=40)
    assert "no purge has finished yet" in _desk(first)  # beat never ran one
    a_while_ago = timezone.now() - dt.timedelta(days=3)
    PurgeRun.objects.create(
        status=PurgeRun.Status.DONE, started_at=a_while_ago, finished_at=a_while_ago
    )
    page = _desk(first)
    assert "1 conversation is past its retention window" in page
    assert f"no purge has finished since {timezone.localtime(a_while_ago):%-d %b %Y}" in page
    PurgeRun.objects.create(status=PurgeRun.Status.DONE, finished_at=timezone.now())
    assert "no purge has finished" not in _desk(first)  # the daily run keeps up


def test_the_desk_is_quiet_when_nothing_is_past_its_window(first, org):
    make_conversation(org.alice, org.internal, days_idle=2)
    page = _desk(first)
    assert "no purge has finished" not in page and "The last purge" not in page


def test_a_request_not_yet_scoped_says_what_scoping_will_count(first, org):
    """The request's card sat at two thirds of the row, an empty third beside it."""
    _intake(first)
    request = SubjectRequest.objects.get()
    page = first.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    assert "Not counted yet. Once the identity is verified, scoping counts" in page


@pytest.mark.parametrize("phone", ["abc", "12", "call me maybe 0207"])
def test_a_phone_number_without_its_digits_is_refused(db, phone):
    from privacy.forms import IdentifiersForm

    form = IdentifiersForm(data={"phone": phone})
    assert "Give the number in digits" in form.errors["phone"][0]
    assert IdentifiersForm(data={"phone": "+44 (20) 7946-0958"}).is_valid()


def test_a_person_whose_erasure_a_hold_kept_is_told_why_without_the_word_hold(
    client, org, officers, django_capture_on_commit_callbacks
):
    """GDPR Art. 12(4) wants the reason for keeping data and the right to complain; the
    holds page and the chat never say "legal hold" to the person it is about, nor does this."""
    make_conversation(org.alice, org.internal)
    services.place_hold(actor=officers[0], reason="Case 4", user=org.alice)
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, django_capture_on_commit_callbacks)

    client.force_login(org.alice)
    page = client.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    assert "the account was kept for now" in page and "legal claim or obligation" in page
    assert "supervisory authority" in page and "legal hold" not in page.lower()
    client.force_login(officers[1])
    page = client.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    assert "its owner is under a legal hold" in page


def test_the_desk_tells_an_officer_which_requests_wait_for_their_approval(client, officers):
    """A scoped request waits for a second officer, who saw only "Scoped" among the rest."""
    priya, omar = officers
    request = receive(officers, actor=priya)
    request = services.verify_identity(request=request, actor=priya, method="Called back")
    services.scope_request(request=request, actor=priya)
    waiting = "Waiting for a second officer: you may approve it"
    client.force_login(omar)
    page = client.get(reverse("privacy:desk")).text
    assert waiting in page and "waiting for your approval" in page
    client.force_login(priya)  # who scoped it: not hers to approve
    page = client.get(reverse("privacy:desk")).text
    assert waiting not in page and "waiting for your approval" not in page
