"""An access archive's life: released to the subject, kept ARCHIVE_KEEP_DAYS, then dropped."""

import datetime as dt
import io
import json
import zipfile

import pytest
from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent
from chat import services as chat
from privacy import services
from privacy.models import ARCHIVE_KEEP_DAYS, SubjectRequest
from tests.api.test_rest import _client_of
from tests.asked_here import asked
from tests.privacy.conftest import make_conversation

THIRD = "+44 20 7946 0111"  # someone else entirely


def _send(capture, conversation, author, text):
    with capture(execute=True):
        return chat.send_message(conversation=conversation, author=author, text=text)


def _own_access(user, officers, capture) -> SubjectRequest:
    """``user`` asks for a copy of their data; two officers scope and approve it."""
    request = services.request_own_data(user=user, kind=SubjectRequest.Kind.ACCESS)
    request = services.scope_request(request=request, actor=officers[1])
    with capture(execute=True):
        services.approve_request(request=request, actor=officers[0])
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.COMPLETED
    return request


@pytest.fixture
def mentioned_by_carol(org, django_capture_on_commit_callbacks):
    """Carol writes about Alice, and about a third party, in her own conversation."""
    carol = chat.start_conversation(owner=org.carol, category=org.confidential)
    _send(
        django_capture_on_commit_callbacks,
        carol,
        org.carol,
        f"Performance note on {org.alice.email}; ask Bob privately on {THIRD} about the "
        "disciplinary case.",
    )
    return carol


def _zip_data(response) -> dict:
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        return json.loads(bundle.read("data.json"))


def _archive_url(request: SubjectRequest) -> str:
    return f"/privacy/requests/{request.public_id}/archive.zip"


# --- release ----------------------------------------------------------------------------


def test_the_subject_gets_colleagues_messages_only_once_an_officer_released_them(
    client, org, officers, mentioned_by_carol, django_capture_on_commit_callbacks
):
    """Mentions are other people's messages (third parties' data too): the subject waits
    for a privacy officer to check them, and the page says so."""
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    assert request.receipt["counts"]["mentions"] == 1 and request.archive_released_at is None
    assert not request.notices.filter(topic="outcome").exists()  # not theirs to download yet

    client.force_login(org.alice)
    refused = client.get(asked(client, _archive_url(request)), follow=True)
    assert refused.redirect_chain and "application/zip" not in refused["Content-Type"]
    assert b"privacy officer checks them" in refused.content
    page = client.get(f"/privacy/requests/{request.public_id}/").content
    assert b"Download archive" not in page and b"other people wrote" in page
    assert client.post(f"/privacy/requests/{request.public_id}/release/").status_code == 403

    client.force_login(officers[1])  # officers may always download: to check the mentions
    checked = client.get(asked(client, _archive_url(request)))
    # The third party's number is withheld (Art. 15(4)); the officer checks for the rest.
    assert checked.status_code == 200 and THIRD not in json.dumps(_zip_data(checked))
    assert "[another person's phone number]" in json.dumps(_zip_data(checked))
    assert b"Release to the person" in client.get(f"/privacy/requests/{request.public_id}/").content
    client.post(f"/privacy/requests/{request.public_id}/release/")
    request.refresh_from_db()
    assert request.archive_released_by == officers[1] and request.archive_released_at
    # Released, the copy is on the page the person filed from: that tells them the outcome.
    assert request.notices.get(topic="outcome").channel == "steward"
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_RELEASED)
    assert event.actor == officers[1] and event.details["mentions"] == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DSR_APPROVED).count() == 1
    again = client.post(f"/privacy/requests/{request.public_id}/release/", follow=True)
    assert b"already released" in again.content

    client.force_login(org.alice)
    assert client.get(asked(client, _archive_url(request))).status_code == 200
    page = client.get(f"/privacy/requests/{request.public_id}/").content
    assert b"Download archive" in page


def test_an_archive_with_nobody_elses_messages_is_released_at_once(
    client, org, officers, django_capture_on_commit_callbacks
):
    make_conversation(org.alice, org.internal, texts=("My plan for Q3", "Sure"))
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    assert request.archive_released_at and request.archive_released_by is None
    executed = AuditEvent.objects.get(action=AuditEvent.Action.DSR_EXECUTED)
    assert executed.details["archive_released"] is True
    client.force_login(org.alice)
    response = client.get(asked(client, _archive_url(request)))
    assert response.status_code == 200
    assert _zip_data(response)["conversations"][0]["title"] == "My plan for Q3"


def test_an_officer_who_is_the_subject_neither_downloads_nor_releases_their_own_mentions(
    client, org, officers, django_capture_on_commit_callbacks
):
    """Priya is a privacy officer and staff: her own archive waits for someone else."""
    from governance.roles import Role
    from tests.factories import make_user

    priya = officers[0]
    carol = chat.start_conversation(owner=org.carol, category=org.confidential)
    _send(django_capture_on_commit_callbacks, carol, org.carol, f"Ask {priya.email} later.")
    third = make_user("tess@corp.example", Role.PRIVACY_OFFICER, full_name="Tess")
    request = _own_access(priya, (third, officers[1]), django_capture_on_commit_callbacks)

    client.force_login(priya)
    assert client.get(asked(client, _archive_url(request))).status_code == 302
    refused = client.post(f"/privacy/requests/{request.public_id}/release/", follow=True)
    assert b"Someone other than the person the data is about" in refused.content
    request.refresh_from_db()
    assert request.archive_released_at is None
    assert not AuditEvent.objects.filter(details__archive_released=True).exists()


def test_officers_release_through_the_api_by_the_same_rules(
    org, officers, mentioned_by_carol, django_capture_on_commit_callbacks
):
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    url = f"/api/privacy/requests/{request.public_id}/"
    shown = _client_of(officers[0]).get(url).json()
    assert shown["archive_available"] is True and shown["archive_released_at"] is None
    released = _client_of(officers[0]).post(url + "release/")
    assert released.status_code == 200, released.content
    assert released.json()["archive_released_by"] == officers[0].display_name
    again = _client_of(officers[0]).post(url + "release/")
    assert again.status_code == 400 and "already released" in again.content.decode()
    assert _client_of(org.alice).post(url + "release/").status_code == 403


# --- what it holds -----------------------------------------------------------------------


def test_a_staff_members_archive_holds_what_steward_keeps_on_their_account(
    client, org, officers, django_capture_on_commit_callbacks
):
    """Besides conversations: their clearances, policy acknowledgements and quiz attempts,
    their API tokens (never the token or its hash), and what the audit trail records they
    did (actions and dates, no message text)."""
    from api.services import create_token
    from training.models import Acknowledgement, PolicyDocument, QuizAttempt

    now = timezone.now()
    document = PolicyDocument.objects.create(
        version=99, title="AI rules", body="## Rules", status="published", published_at=now
    )
    Acknowledgement.objects.create(user=org.alice, document=document, acknowledged_at=now)
    QuizAttempt.objects.create(
        user=org.alice, category_number=2, score=3, total=5, pass_percent=80, passed=False,
        answers={}, taken_at=now,
    )  # fmt: skip
    token, raw = create_token(user=org.alice, name="Laptop script", expires_in_days=30, actor=None)
    own = chat.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, own, org.alice, "Draft of the Q3 reorg plan")
    request = _own_access(org.alice, officers, django_capture_on_commit_callbacks)

    client.force_login(org.alice)
    response = client.get(asked(client, _archive_url(request)))
    data = _zip_data(response)
    assert org.internal.name in {c["category"] for c in data["clearances"]}
    assert data["policy_acknowledgements"][0]["document"] == "AI rules (version 99)"
    (attempt,) = data["quiz_attempts"]
    assert attempt["score"] == "3/5" and attempt["passed"] is False
    (listed,) = data["api_tokens"]
    assert listed["name"] == "Laptop script" and listed["status"] == "active"
    assert raw not in json.dumps(data) and token.digest not in json.dumps(data)
    activity = {row["action"]: row for row in data["audit_activity"]}
    assert activity["Chat request"]["times"] == 1
    assert "Q3 reorg" not in json.dumps(data["audit_activity"])
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        summary = bundle.read("summary.html").decode()
    assert "Laptop script" in summary and "AI rules (version 99)" in summary
    assert "Quiz attempts (1)" in summary and "Chat request: 1 time" in summary
    assert raw not in summary and token.digest not in summary


def test_an_archive_reads_the_conversations_in_the_same_queries_however_many(org, monkeypatch):
    """Two conversations or twenty-two: their messages come in the same queries, and the zip
    being written goes to a temporary file past its size in memory, holding the same."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from privacy import archive

    monkeypatch.setattr(archive, "SPOOL_BYTES", 1)  # every zip goes to disk

    def build(reference: str) -> tuple[int, dict, dict]:
        request = SubjectRequest.objects.create(
            reference=reference, kind=SubjectRequest.Kind.ACCESS,
            regime=SubjectRequest.Regime.GDPR, subject_user_id=org.alice.pk,
            received_on=timezone.localdate(), due_on=timezone.localdate(),
        )  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            sealed, counts = archive.build(request, recipients=[], progress=lambda done: None)
        request.archive_sealed = sealed
        with zipfile.ZipFile(io.BytesIO(archive.open_archive(request))) as bundle:
            return len(queries), counts, json.loads(bundle.read("data.json"))

    for _ in range(2):
        make_conversation(org.alice, org.internal, texts=("Question", "Answer") * 5)
    small, counts, data = build("DSR-2026-0001")
    assert counts == {"conversations": 2, "messages": 20, "mentions": 0}
    for _ in range(20):
        make_conversation(org.alice, org.internal, texts=("Question", "Answer") * 5)
    large, counts, data = build("DSR-2026-0002")
    assert counts == {"conversations": 22, "messages": 220, "mentions": 0}
    assert large == small
    assert [m["text"] for m in data["conversations"][0]["messages"][:2]] == [
        "Question",
        "Answer",
    ]


# --- expiry -----------------------------------------------------------------------------


def _age(request: SubjectRequest, days: float) -> None:
    SubjectRequest.objects.filter(pk=request.pk).update(
        completed_at=timezone.now() - dt.timedelta(days=days)
    )


def test_an_archive_is_dropped_once_kept_its_days_and_the_page_says_when(
    client, org, officers, django_capture_on_commit_callbacks
):
    """Text copied into an archive outlives neither the purge of its conversation nor the
    subject's erasure by more than ARCHIVE_KEEP_DAYS."""
    from privacy.tasks import drop_expired_archives

    make_conversation(org.alice, org.internal, texts=("Quarterly numbers draft", "OK"))
    old = _own_access(org.alice, officers, django_capture_on_commit_callbacks)
    _age(old, ARCHIVE_KEEP_DAYS + 0.1)
    young = _own_access(org.carol, officers, django_capture_on_commit_callbacks)
    _age(young, ARCHIVE_KEEP_DAYS - 0.1)

    drop_expired_archives()
    old.refresh_from_db()
    young.refresh_from_db()
    assert bytes(old.archive_sealed) == b"" and old.archive_dropped_at
    assert old.archive_digests == []  # who it held goes with it
    assert not old.archive_withdrawn
    assert young.archive_sealed and young.archive_dropped_at is None and young.archive_digests
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_PURGED)
    assert event.target_id == str(old.public_id)
    assert event.details == {"kind": "access", "archives": 1, "kept_days": ARCHIVE_KEEP_DAYS}
    drop_expired_archives()  # nothing left to drop, nothing recorded
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETENTION_PURGED).count() == 1

    client.force_login(org.alice)
    page = client.get(f"/privacy/requests/{old.public_id}/").content.decode()
    assert f"The archive expired on {timezone.localtime(old.archive_dropped_at):%-d %B %Y}" in page
    assert "Download archive" not in page
    refused = client.get(asked(client, _archive_url(old)), follow=True)
    assert b"The archive expired on" in refused.content
    client.force_login(org.carol)
    kept = client.get(f"/privacy/requests/{young.public_id}/")
    assert b"Kept until" in kept.content and b"Download archive" in kept.content


def test_beat_drops_expired_archives_and_recovers_requests():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"privacy.tasks.drop_expired_archives", "privacy.tasks.recover_requests"} <= tasks
