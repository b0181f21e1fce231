"""A request's pages read whether it has an archive, not the archive (megabytes, sealed).

Every view of a request's page, its receipt and its letter loaded the sealed access
archive with the row; only the download needs it.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.asked_here import asked
from tests.privacy.conftest import make_conversation
from tests.privacy.test_archive_lifecycle import _archive_url, _own_access

#: The archive column in a query's select list (not in a test of whether it is empty).
SELECTS_ARCHIVE = re.compile(r'(SELECT|,)\s*"privacy_subjectrequest"\."archive_sealed"\s*(,|FROM)')


@pytest.fixture
def answered(org, officers, django_capture_on_commit_callbacks):
    make_conversation(org.alice, org.internal, texts=("My plan for Q3", "Sure"))
    return _own_access(org.alice, officers, django_capture_on_commit_callbacks)


def _reads_of_the_archive(client, path: str):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response, [q["sql"] for q in queries if SELECTS_ARCHIVE.search(q["sql"])]


@pytest.mark.parametrize("who", ["alice", "officer"])
def test_the_pages_of_a_request_leave_its_archive_unread(client, org, officers, answered, who):
    client.force_login(org.alice if who == "alice" else officers[1])
    base = f"/privacy/requests/{answered.public_id}/"
    detail, reads = _reads_of_the_archive(client, base)
    assert reads == []
    assert b"Kept until" in detail.content and b"Download archive" in detail.content
    letter, reads = _reads_of_the_archive(client, base + "letter/")
    assert reads == []
    assert b"You can download it from your request" in letter.content
    receipt, reads = _reads_of_the_archive(client, asked(client, base + "receipt.json"))
    assert reads == [] and receipt["Content-Type"] == "application/json"


def test_the_download_still_reads_it(client, org, answered):
    client.force_login(org.alice)
    response, reads = _reads_of_the_archive(client, asked(client, _archive_url(answered)))
    assert response["Content-Type"] == "application/zip" and response.content[:2] == b"PK"
    assert len(reads) == 1  # the archive itself, once


def test_a_request_whose_archive_was_dropped_says_so_without_reading_it(client, org, answered):
    import datetime as dt

    from django.utils import timezone

    from privacy.models import ARCHIVE_KEEP_DAYS, SubjectRequest

    now = timezone.now()
    SubjectRequest.objects.filter(pk=answered.pk).update(
        completed_at=now - dt.timedelta(days=ARCHIVE_KEEP_DAYS + 1),
        archive_sealed=b"",
        archive_dropped_at=now,
    )
    client.force_login(org.alice)
    base = f"/privacy/requests/{answered.public_id}/"
    detail, reads = _reads_of_the_archive(client, base)
    assert reads == [] and b"The archive expired on" in detail.content
    assert b"Download archive" not in detail.content
    letter, reads = _reads_of_the_archive(client, base + "letter/")
    assert reads == [] and b"We kept it until" in letter.content
