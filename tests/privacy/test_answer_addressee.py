"""Where the answer goes: the identifiers are dropped when a request closes, and an erased
account's email becomes erased-…@erased.invalid, yet the outcome is still owed to the person.
One contact is kept sealed until the outcome is recorded as told, then dropped."""

import html

from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from privacy import notices, services
from privacy.models import RequesterNotice, SubjectRequest
from tests.privacy.conftest import SUBJECT_EMAIL, receive, reject, run


def _letter(client, request) -> str:
    response = client.get(reverse("privacy:request_letter", args=[request.public_id]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _tell_outcome(request, officer) -> None:
    notices.record_notice(
        request=request,
        actor=officer,
        topic=RequesterNotice.Topic.OUTCOME,
        channel=RequesterNotice.Channel.EMAIL,
        told_on=timezone.localdate(),
    )


def _dropped_events(request):
    return AuditEvent.objects.filter(
        action=AuditEvent.Action.DSR_REPLY_TO_DROPPED, target_id=str(request.public_id)
    )


def test_a_rejection_is_addressed_to_the_person_until_its_outcome_is_told(client, officers):
    request = receive(officers, identifiers=[("name", "Jane Roe"), ("email", SUBJECT_EMAIL)])
    request = reject(request, officers, ground="no_data", reason="Not ours")
    request.refresh_from_db()
    assert request.identifiers() == [] and request.reply_to() == SUBJECT_EMAIL
    client.force_login(officers[1])
    assert f"To: {SUBJECT_EMAIL}" in _letter(client, request)

    _tell_outcome(request, officers[1])
    request.refresh_from_db()
    assert bytes(request.reply_to_sealed) == b"" and request.reply_to() == ""
    assert SUBJECT_EMAIL not in _letter(client, request)
    assert _dropped_events(request).get().actor == officers[1]


def test_an_erasure_of_the_person_keeps_where_to_send_its_outcome_then_drops_it(
    client, org, officers, django_capture_on_commit_callbacks
):
    """The account's email is erased by the erasure; the one it had is where the answer goes."""
    email = org.alice.email
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ERASURE)
    request = run(request, officers, django_capture_on_commit_callbacks)
    org.alice.refresh_from_db()
    assert request.status == SubjectRequest.Status.COMPLETED and org.alice.is_erased
    assert request.reply_to() == email
    client.force_login(officers[1])
    assert f"To: {email}" in _letter(client, request)
    assert not _dropped_events(request).exists()

    _tell_outcome(request, officers[1])
    request.refresh_from_db()
    assert request.reply_to() == "" and email not in _letter(client, request)
    assert _dropped_events(request).count() == 1


def test_a_copy_shown_on_the_persons_own_page_keeps_no_address(
    org, officers, django_capture_on_commit_callbacks
):
    """Told in Steward at once (the copy is on their page): nothing is kept to send it to."""
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert request.notices.filter(topic="outcome").exists()
    assert request.reply_to() == "" and _dropped_events(request).get().actor is None
