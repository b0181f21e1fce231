"""What the person is told about their own request, and what the staff notice promises: a
copy they cannot download yet is not "done", a copy released late is not "on time", and the
notice says who may read their conversations (a plain-language review found each)."""

import datetime as dt
import re

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from privacy import archive
from privacy.models import SubjectRequest
from privacy.views.own_data import STEPS_FOR_THE_PERSON
from privacy.views.subject_requests import _done_steps
from tests.privacy.test_archive_lifecycle import (
    _own_access,
    mentioned_by_carol,  # noqa: F401  (a fixture)
)

MINE = "/privacy/your-data/"
NOTICE = "/privacy/how-steward-uses-your-data/"
BEING_CHECKED = "Being checked before you can download it"


def _words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _text(response) -> str:
    assert response.status_code == 200
    return _words(response.content.decode())


@pytest.fixture
def carol_names_alice(mentioned_by_carol):  # noqa: F811
    """A message of Carol's names Alice: Alice's copy waits for an officer's check."""
    return mentioned_by_carol


def _letter(client, request: SubjectRequest) -> str:
    return _text(client.get(f"/privacy/requests/{request.public_id}/letter/"))


def _request_page(client, request: SubjectRequest) -> str:
    return _text(client.get(f"/privacy/requests/{request.public_id}/"))


def _your_requests(client) -> str:
    page = _text(client.get(MINE))
    return page[page.index("Your requests") :]


def _released_late(request: SubjectRequest, officer) -> SubjectRequest:
    """As if the copy was made ten days ago, in time, and released today, five days after
    the date the law sets."""
    now = timezone.now()
    SubjectRequest.objects.filter(pk=request.pk).update(
        completed_at=now - dt.timedelta(days=10),
        due_on=timezone.localdate(now) - dt.timedelta(days=5),
    )
    return archive.release(request=request, actor=officer)


# --- a copy that waits for an officer's check --------------------------------------------


def test_your_data_says_a_copy_being_checked_is_not_done_yet(
    client, org, officers, carol_names_alice, django_capture_on_commit_callbacks
):
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    client.force_login(org.alice)
    listed = _your_requests(client)
    assert BEING_CHECKED in listed and "Completed" not in listed

    archive.release(request=request, actor=officers[1])
    listed = _your_requests(client)
    assert BEING_CHECKED not in listed and "Done" in listed


def test_the_request_page_shows_the_person_no_done_step_while_their_copy_is_checked(
    org, officers, carol_names_alice, django_capture_on_commit_callbacks
):
    from privacy.views.own_data import progress_for_the_person

    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    shown = progress_for_the_person(request, STEPS_FOR_THE_PERSON, _done_steps(request))
    assert shown["steps"][-1] == (SubjectRequest.Status.COMPLETED, BEING_CHECKED)
    assert SubjectRequest.Status.COMPLETED not in shown["done_steps"]
    assert SubjectRequest.Status.EXECUTING in shown["done_steps"]
    badge = _words(render_to_string("privacy/mine.html#person-status", {"req": request}))
    assert BEING_CHECKED in badge and "Completed" not in badge

    released = archive.release(request=request, actor=officers[1])
    shown = progress_for_the_person(released, STEPS_FOR_THE_PERSON, _done_steps(released))
    assert shown["steps"] == STEPS_FOR_THE_PERSON
    assert SubjectRequest.Status.COMPLETED in shown["done_steps"]


def test_the_letter_tells_the_person_their_copy_is_being_checked_not_completed(
    client, org, officers, carol_names_alice, django_capture_on_commit_callbacks
):
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    client.force_login(org.alice)
    letter = _letter(client, request)
    assert "The answer to your request" in letter and "the requester" not in letter
    assert BEING_CHECKED in letter
    assert "We completed it" not in letter and "within the time the law allows" not in letter


def test_the_officer_reads_the_letter_as_the_one_to_send(
    client, org, officers, carol_names_alice, django_capture_on_commit_callbacks
):
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    client.force_login(officers[1])
    assert "The answer to the requester" in _letter(client, request)


# --- lateness from release ---------------------------------------------------------------


def test_a_copy_released_after_the_due_date_is_late_in_the_letter(
    client, org, officers, carol_names_alice, django_capture_on_commit_callbacks
):
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    request = _released_late(request, officers[1])
    request.refresh_from_db()
    assert request.days_late == 0  # the desk's count, from completion, stays as it was
    assert request.answer_days_late == 5
    client.force_login(org.alice)
    letter = _letter(client, request)
    assert "5 days after the date the law sets" in letter
    assert "within the time the law allows" not in letter
    assert f"We completed it on {timezone.localdate():%-d %B %Y}" in letter
    assert "5 days late" in _your_requests(client)


def test_a_copy_released_at_once_is_answered_when_it_completed(
    client, org, officers, django_capture_on_commit_callbacks
):
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    assert request.archive_released_at and request.answered_at == request.completed_at
    client.force_login(org.alice)
    assert "within the time the law allows" in _letter(client, request)


# --- promises on the pages ---------------------------------------------------------------


def test_your_data_says_what_the_law_asks_not_what_the_team_promises(client, org):
    client.force_login(org.alice)
    page = _text(client.get(MINE))
    assert "handles the request within the legal deadline" not in page
    assert (
        "must answer your request within one month under the GDPR, or 45 days under the CCPA"
        in page
    )


def test_the_notice_says_an_officer_can_download_the_persons_own_copy(client, org):
    client.force_login(org.alice)
    page = _text(client.get(NOTICE))
    assert "Only you can read your conversations" not in page
    assert "Nobody else can open them in Steward." not in page
    assert (
        "When a copy of your data is made for a request, a privacy officer can download it "
        "to check it before you get it; each download is recorded" in page
    )


def test_the_notice_says_only_what_steward_recognises_and_the_officer_finds_is_withheld(
    client, org
):
    client.force_login(org.alice)
    page = _text(client.get(NOTICE))
    assert "with other people's identifiers withheld" not in page
    assert (
        "with the other people's data Steward recognises, and the names the officer finds, "
        "withheld" in page
    )


# --- the person's own words on their request ------------------------------------------------


def test_the_persons_done_request_speaks_to_them_in_their_steps_words(
    client, org, officers, django_capture_on_commit_callbacks
):
    """It read "Identity verified", "Scoped: Priya…", "0 mentions", "Receipt SHA-256" and
    "Signed in to their own account." under steps named "Identity checked", "Data found"."""
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    client.force_login(org.alice)
    page = _request_page(client, request)
    where_it_stands = page[page.index("Where it stands") :]
    assert where_it_stands.startswith("Where it stands Done Completed")
    assert (
        "Your copy holds 0 conversations of yours and 0 messages other people wrote that "
        "name you." in page
    )
    assert "mentions" not in page and "SHA-256" not in page
    assert "Receipt (a fingerprint that proves this answer was not changed):" in page
    assert "Identity checked You signed in to your own account." in page
    assert "Data found " + officers[1].display_name in page
    assert "Identity verified" not in page and "Scoped" not in page
    assert "their own account" not in page


def test_the_officer_keeps_the_desks_words_on_the_same_request(
    client, org, officers, django_capture_on_commit_callbacks
):
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    client.force_login(officers[0])
    page = _request_page(client, request)
    assert "The archive holds 0 conversations and 0 mentions." in page
    assert "Receipt SHA-256" in page and "Identity Signed in to their own account." in page
    assert "Scoped " + officers[1].display_name in page


def test_your_requests_says_when_a_done_request_was_done_not_when_it_was_due(
    client, org, officers, django_capture_on_commit_callbacks
):
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    client.force_login(org.alice)
    listed = _your_requests(client)
    assert f"Done done {timezone.localdate(request.completed_at):%-d %b %Y}" in listed
    assert f"due {request.due_on:%-d %b %Y}" not in listed


def test_your_requests_says_when_a_refused_request_was_answered_not_when_it_was_due(
    client, org, officers, django_capture_on_commit_callbacks
):
    """A refused request read "due <date>" there, a date that no longer mattered."""
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    answered = timezone.now() - dt.timedelta(days=2)
    SubjectRequest.objects.filter(pk=request.pk).update(
        status=SubjectRequest.Status.REJECTED, completed_at=answered, archive_released_at=None
    )
    client.force_login(org.alice)
    listed = _your_requests(client)
    assert f"Rejected answered {timezone.localdate(answered):%-d %b %Y}" in listed
    assert f"due {request.due_on:%-d %b %Y}" not in listed
