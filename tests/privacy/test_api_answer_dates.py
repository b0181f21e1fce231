"""When a request was answered, and how late, over REST: an officer a request is about reads
what the person is told (from the release of a copy that waited for a check), every other
officer both the desk's count and the person's."""

import datetime as dt

import pytest
from django.utils import timezone

from privacy.models import SubjectRequest
from tests.api.test_rest import _client_of

DATES = (
    "completed_at", "days_late", "copy_being_checked", "answered_at", "answer_days_late", "overdue"
)  # fmt: skip


@pytest.fixture
def omars_copy(officers):
    """Omar's (the second officer's) copy of his data, made ten days ago in time; it waits
    for an officer's check, and the law's date was five days ago."""
    return SubjectRequest.objects.create(
        reference="DSR-2026-0042",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        status=SubjectRequest.Status.COMPLETED,
        subject_user=officers[1],
        received_on=timezone.localdate() - dt.timedelta(days=30),
        due_on=timezone.localdate() - dt.timedelta(days=5),
        completed_at=timezone.now() - dt.timedelta(days=10),
    )


def _read(officer, request: SubjectRequest) -> dict:
    """The request's dates as ``officer`` reads them, alone and in the list (the same)."""
    client = _client_of(officer)
    shown = client.get(f"/api/privacy/requests/{request.public_id}/").json()
    (listed,) = client.get("/api/privacy/requests/").json()["results"]
    assert {field: listed[field] for field in DATES} == {field: shown[field] for field in DATES}
    return {field: shown[field] for field in DATES}


def test_the_officer_a_copy_is_about_reads_it_unanswered_and_late_while_it_is_checked(
    officers, omars_copy
):
    assert _read(officers[1], omars_copy) == {
        "completed_at": None,
        "days_late": 5,
        "copy_being_checked": True,
        "answered_at": None,
        "answer_days_late": 5,
        "overdue": True,  # as his page says: overdue, was due five days ago
    }
    desk = _read(officers[0], omars_copy)
    assert desk["completed_at"] is not None and desk["days_late"] == 0
    assert desk["overdue"] is False  # the desk's: the request is closed
    assert desk["copy_being_checked"] is True
    assert desk["answered_at"] is None and desk["answer_days_late"] == 5


def test_once_released_late_the_officer_it_is_about_reads_it_answered_then_and_late(
    officers, omars_copy
):
    SubjectRequest.objects.filter(pk=omars_copy.pk).update(archive_released_at=timezone.now())
    his = _read(officers[1], omars_copy)
    assert his["completed_at"] == his["answered_at"] is not None
    assert his["days_late"] == his["answer_days_late"] == 5
    assert his["copy_being_checked"] is False and his["overdue"] is False

    desk = _read(officers[0], omars_copy)
    assert desk["answered_at"] == his["answered_at"] != desk["completed_at"]
    assert desk["days_late"] == 0 and desk["answer_days_late"] == 5


def test_an_open_request_is_not_answered_nor_late_but_may_be_overdue(officers, omars_copy):
    SubjectRequest.objects.filter(pk=omars_copy.pk).update(
        status=SubjectRequest.Status.EXECUTING, completed_at=None
    )
    nothing_yet = {
        "completed_at": None,
        "days_late": 0,
        "copy_being_checked": False,
        "answered_at": None,
        "answer_days_late": 0,
        "overdue": True,  # open, and due five days ago
    }
    assert _read(officers[1], omars_copy) == nothing_yet == _read(officers[0], omars_copy)
