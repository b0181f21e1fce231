"""The privacy desk over REST: privacy officers only, the same steps, four eyes kept."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.roles import Role
from privacy.models import SubjectRequest
from tests.api.test_rest import PERSONAS, ROLES, _client_of
from tests.factories import make_user
from tests.privacy.conftest import make_conversation, make_privacy_objects

REQUEST_ID = "00000000-0000-4000-8000-0000000000f1"
HOLD_ID = "00000000-0000-4000-8000-0000000000f2"
PURGE_ID = "00000000-0000-4000-8000-0000000000f3"
OFFICER_ONLY = (401, 403, 403, 403, 200, 403)
ENDPOINTS = {
    "/api/privacy/requests/": OFFICER_ONLY,
    f"/api/privacy/requests/{REQUEST_ID}/": OFFICER_ONLY,
    "/api/privacy/holds/": OFFICER_ONLY,
    f"/api/privacy/holds/{HOLD_ID}/": OFFICER_ONLY,
    "/api/privacy/purges/": OFFICER_ONLY,
    "/api/privacy/purges/preview/": OFFICER_ONLY,
    f"/api/privacy/purges/{PURGE_ID}/": OFFICER_ONLY,
}


@pytest.fixture
def objects(db):
    staff = make_user("subject@example.com", Role.STAFF)
    make_privacy_objects(staff, request_id=REQUEST_ID, hold_id=HOLD_ID, purge_id=PURGE_ID)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_endpoint_answers_each_role_as_the_pages_do(objects, persona):
    user = None if persona == "anon" else make_user(f"{persona}@example.com", *ROLES[persona])
    client = _client_of(user)
    expected = {path: codes[PERSONAS.index(persona)] for path, codes in ENDPOINTS.items()}
    assert {path: client.get(path).status_code for path in ENDPOINTS} == expected


def test_it_never_shows_the_identifiers(officers, db):
    client = _client_of(officers[0])
    made = client.post(
        "/api/privacy/requests/",
        {
            "kind": "erasure",
            "regime": "gdpr",
            "received_on": "2026-11-02",
            "email": "jane@example.org",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["due_on"] == "2026-12-02"
    assert "jane@example.org" not in client.get("/api/privacy/requests/").content.decode()


def test_bad_intake_is_400_with_the_reason(officers, db):
    refused = _client_of(officers[0]).post(
        "/api/privacy/requests/",
        {"kind": "erasure", "regime": "gdpr", "received_on": "2999-01-01"},
        format="json",
    )
    assert refused.status_code == 400
    assert "future" in refused.content.decode() and not SubjectRequest.objects.exists()


def test_four_eyes_cannot_be_bypassed_through_the_api(
    officers, org, django_capture_on_commit_callbacks
):
    first, second = (_client_of(officer) for officer in officers)
    made = first.post(
        "/api/privacy/requests/",
        {
            "kind": "erasure",
            "regime": "ccpa",
            "received_on": "2026-11-02",
            "email": "x@example.org",
        },
        format="json",
    ).json()
    base = f"/api/privacy/requests/{made['public_id']}/"
    assert first.post(base + "approve/").status_code == 400  # not scoped yet
    assert first.post(base + "verify/", {"method": "Called back"}).status_code == 200
    assert first.post(base + "scope/").json()["status"] == "scoped"
    refused = first.post(base + "approve/")
    assert refused.status_code == 403 and "Someone other" in refused.json()["detail"]
    with django_capture_on_commit_callbacks(execute=True):
        approved = second.post(base + "approve/")
    assert approved.status_code == 200
    assert first.get(base).json()["status"] == "completed"


def test_holds_and_purges_through_the_api(officers, org, django_capture_on_commit_callbacks):
    client = _client_of(officers[0])
    make_conversation(org.alice, org.internal, days_idle=60)
    held = client.post("/api/privacy/holds/", {"person": org.alice.email, "reason": "Case 4"})
    assert held.status_code == 201
    assert client.get("/api/privacy/purges/preview/").json()["held"] == 1
    release = f"/api/privacy/holds/{held.json()['public_id']}/release/"
    asked = client.post(release, {"reason": "Done"}).json()
    assert asked["release_asked_by"] == "Priya" and not asked["released_at"]
    seen = {"release_asked_at": asked["release_asked_at"]}
    released = _client_of(officers[1]).post(release + "confirm/", seen)
    assert released.json()["released_at"] and released.json()["released_by"] == "Omar"
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/api/privacy/purges/start/")
    assert started.status_code == 202
    run = client.get(f"/api/privacy/purges/{started.json()['public_id']}/").json()
    assert run["status"] == "done" and run["done_conversations"] == 1


def test_the_schema_generates_without_warnings(db, tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    assert "/api/privacy/requests/{public_id}/approve/" in (tmp_path / "s.yml").read_text()


def _completed_access(reference: str, *, archive: bytes) -> SubjectRequest:
    return SubjectRequest.objects.create(
        reference=reference, kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR, status=SubjectRequest.Status.COMPLETED,
        received_on=timezone.localdate(), due_on=timezone.localdate(),
        completed_at=timezone.now(), archive_sealed=archive,
    )  # fmt: skip


def test_the_request_list_says_whether_an_archive_is_kept_without_reading_it(officers, db):
    """Each archive is megabytes: the list asks the database whether there is one, in the
    same queries for 2 requests as for 6, and never selects an archive itself."""
    client = _client_of(officers[0])

    def listed() -> tuple[list[str], dict[str, bool]]:
        with CaptureQueriesContext(connection) as queries:
            body = client.get("/api/privacy/requests/").json()
        rows = body if isinstance(body, list) else body["results"]
        selects = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
        return selects, {row["reference"]: row["archive_available"] for row in rows}

    _completed_access("DSR-2026-0001", archive=b"sealed zip")
    _completed_access("DSR-2026-0002", archive=b"")  # dropped, or never built
    small, available = listed()
    assert available == {"DSR-2026-0001": True, "DSR-2026-0002": False}
    for number in range(3, 7):
        _completed_access(f"DSR-2026-{number:04}", archive=b"sealed zip")
    large, available = listed()
    assert len(available) == 6 and sum(available.values()) == 5
    assert len(large) == len(small)
    assert not [sql for sql in large if _selects_the_archive(sql)]


def _selects_the_archive(sql: str) -> bool:
    column = '"privacy_subjectrequest"."archive_sealed"'
    return f"{column}," in sql or f"{column} FROM" in sql


def test_what_the_requester_was_told_is_recorded_and_read_through_the_api(officers, db):
    client = _client_of(officers[0])
    made = client.post(
        "/api/privacy/requests/",
        {"kind": "access", "regime": "ccpa", "received_on": "2026-11-02", "email": "j@example.org"},
        format="json",
    ).json()
    assert made["notices"] == []
    assert made["still_to_tell"] == [{"topic": "receipt", "due_on": "2026-11-16", "overdue": True}]
    told = f"/api/privacy/requests/{made['public_id']}/told/"
    refused = client.post(
        told, {"topic": "outcome", "channel": "steward", "told_on": "2026-11-03"}, format="json"
    )
    assert refused.status_code == 400
    assert list(refused.json()) == ["channel"]
    recorded = client.post(
        told, {"topic": "receipt", "channel": "email", "told_on": "2026-11-03"}, format="json"
    )
    assert recorded.status_code == 200, recorded.content
    (notice,) = recorded.json()["notices"]
    assert notice["topic"] == "receipt" and notice["channel"] == "email"
    assert notice["due_on"] == "2026-11-16" and notice["late"] is False
    assert notice["recorded_by"] == officers[0].display_name
    assert recorded.json()["still_to_tell"] == []
    again = client.post(
        told, {"topic": "receipt", "channel": "phone", "told_on": "2026-11-04"}, format="json"
    )
    assert again.status_code == 400
    assert again.json() == {
        "non_field_errors": [
            "That they were told this is already recorded: Email, 3 November 2026."
        ]
    }
