"""Finishing over REST an erasure a legal hold left unfinished, as its page does: the same
form, service, refusals and audit events; privacy officers only."""

import uuid

import pytest

from audit.models import AuditEvent
from governance.roles import Role
from privacy import services
from privacy.models import SubjectRequest
from tests.api.test_rest import _client_of
from tests.factories import make_user
from tests.privacy.conftest import SUBJECT_EMAIL, make_conversation, mention, receive, run
from tests.privacy.test_finish_identifiers import NAME, _withheld_erasure

HOME_EMAIL = "jane@home.example"
NOTHING_FREE = (
    "Nothing this erasure left behind is free to erase: it is gone, or still under a legal hold."
)


def _url(request: SubjectRequest) -> str:
    return f"/api/privacy/requests/{request.public_id}/finish/"


@pytest.fixture
def withheld(org, officers, django_capture_on_commit_callbacks):
    """Jane Roe's erasure (her email and name), completed while a hold kept a conversation
    that names her; the hold since released."""
    first, _ = _withheld_erasure(
        org,
        officers,
        django_capture_on_commit_callbacks,
        identifiers=[("email", SUBJECT_EMAIL), ("name", NAME)],
    )
    return first


def _events(request: SubjectRequest) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(target_id=str(request.public_id))
        .order_by("sequence")
        .values_list("action", "actor_label")
    )


def test_it_records_the_follow_up_erasure_as_the_page_does(officers, withheld):
    finished = _client_of(officers[0]).post(
        _url(withheld), {"email": SUBJECT_EMAIL, "name": [NAME]}, format="json"
    )
    assert finished.status_code == 201, finished.content
    follow_up = SubjectRequest.objects.exclude(pk=withheld.pk).get()
    shown = finished.json()
    assert shown["public_id"] == str(follow_up.public_id)
    assert shown["reference"] == follow_up.reference != withheld.reference
    assert shown["kind"] == "erasure" and shown["status"] == "verified"
    assert shown["verified_by"] == officers[0].display_name
    assert NAME not in finished.content.decode() and SUBJECT_EMAIL not in finished.content.decode()
    assert set(follow_up.identifiers()) == {("email", SUBJECT_EMAIL), ("name", NAME)}
    label = AuditEvent.objects.filter(actor=officers[0]).latest("sequence").actor_label
    assert _events(follow_up) == [
        (AuditEvent.Action.DSR_RECEIVED, label),
        (AuditEvent.Action.DSR_VERIFIED, label),
    ]
    received = AuditEvent.objects.get(
        action=AuditEvent.Action.DSR_RECEIVED, target_id=str(follow_up.public_id)
    )
    assert received.details["follows"] == withheld.reference


def test_a_kind_left_out_is_refused_beside_its_field_with_how_many(
    org, officers, django_capture_on_commit_callbacks
):
    first, _ = _withheld_erasure(
        org,
        officers,
        django_capture_on_commit_callbacks,
        identifiers=[("email", SUBJECT_EMAIL), ("email", HOME_EMAIL)],
    )
    refused = _client_of(officers[0]).post(_url(first), {"email": [SUBJECT_EMAIL]}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {
        "email": [
            "The original erasure also named 1 email address (of 2) not given here: give the "
            f"subject's 2 email addresses (one per line) as they were given for {first.reference}."
        ]
    }
    assert SubjectRequest.objects.count() == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_FOLLOW_UP_REFUSED)
    assert event.target_id == str(first.public_id) and event.details["missing"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [({"email": "x"}, "email"), ({"emails": [SUBJECT_EMAIL]}, "emails")],
    ids=["not an email address", "unknown field"],
)
def test_a_malformed_body_is_refused_before_the_service(officers, withheld, body, field):
    refused = _client_of(officers[0]).post(_url(withheld), body, format="json")
    assert refused.status_code == 400
    assert list(refused.json()) == [field]
    assert SubjectRequest.objects.count() == 1
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_FOLLOW_UP_REFUSED).exists()


def test_it_refuses_while_a_hold_still_keeps_what_was_left(
    org, officers, django_capture_on_commit_callbacks
):
    kept = make_conversation(org.carol, org.internal, texts=(f"Mail {SUBJECT_EMAIL}",))
    mention(kept, "EMAIL_ADDRESS", SUBJECT_EMAIL)
    services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    first = run(receive(officers), officers, django_capture_on_commit_callbacks)
    assert first.receipt["counts"]["withheld_conversations"] == 1

    refused = _client_of(officers[0]).post(_url(first), {"email": SUBJECT_EMAIL}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"non_field_errors": [NOTHING_FREE]}
    assert SubjectRequest.objects.count() == 1


def test_it_refuses_an_erasure_that_left_nothing_behind(
    officers, db, django_capture_on_commit_callbacks
):
    first = run(receive(officers), officers, django_capture_on_commit_callbacks)
    refused = _client_of(officers[0]).post(_url(first), {"email": SUBJECT_EMAIL}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"non_field_errors": [NOTHING_FREE]}


def test_it_refuses_a_request_not_completed(officers, db):
    still_open = receive(officers)
    refused = _client_of(officers[0]).post(_url(still_open), {}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"non_field_errors": ["Only a completed erasure can be finished."]}


def test_it_refuses_a_second_follow_up_while_the_first_is_open(officers, withheld):
    client = _client_of(officers[0])
    body = {"email": SUBJECT_EMAIL, "name": NAME}
    follow_up = client.post(_url(withheld), body, format="json").json()
    again = client.post(_url(withheld), body, format="json")
    assert again.status_code == 400
    assert again.json() == {
        "non_field_errors": [
            f"{follow_up['reference']} is open and already erases what this one left behind."
        ]
    }
    assert SubjectRequest.objects.count() == 2


def test_the_officer_it_is_about_cannot_finish_it(withheld):
    jane = make_user(SUBJECT_EMAIL, Role.PRIVACY_OFFICER)
    refused = _client_of(jane).post(
        _url(withheld), {"email": SUBJECT_EMAIL, "name": NAME}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "non_field_errors": ["This request is about you: another privacy officer handles it."]
    }
    assert SubjectRequest.objects.count() == 1


@pytest.mark.parametrize(
    ("roles", "code"),
    [((), 401), ((Role.STAFF,), 403), ((Role.POLICY_ADMIN,), 403), ((Role.AUDITOR,), 403)],
    ids=["anonymous", "staff", "policy admin", "auditor"],
)
def test_only_privacy_officers_may_finish_an_erasure(withheld, roles, code):
    user = make_user("someone@corp.example", *roles) if roles else None
    refused = _client_of(user).post(
        _url(withheld), {"email": SUBJECT_EMAIL, "name": NAME}, format="json"
    )
    assert refused.status_code == code
    assert SubjectRequest.objects.count() == 1


def test_an_unknown_request_is_404(officers, db):
    path = f"/api/privacy/requests/{uuid.uuid4()}/finish/"
    missing = _client_of(officers[0]).post(path, {"email": SUBJECT_EMAIL}, format="json")
    assert missing.status_code == 404


def test_the_schema_offers_finishing_and_the_persons_answer_dates(db, tmp_path):
    import yaml
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    finish = schema["paths"]["/api/privacy/requests/{public_id}/finish/"]["post"]
    assert set(finish["responses"]) == {
        "201",
        "400",
        "404",
    }  # 400: refused, by field; 404: no such request
    body = finish["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schema["components"]["schemas"][body.rsplit("/", 1)[1]]["properties"]) == {
        "email", "phone", "name", "other"
    }  # fmt: skip
    shown = schema["components"]["schemas"]["SubjectRequest"]["properties"]
    for field in ("answered_at", "answer_days_late", "copy_being_checked", "days_late"):
        assert shown[field]["readOnly"] is True
