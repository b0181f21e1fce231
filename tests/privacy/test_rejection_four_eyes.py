"""Refusing a person's right takes four eyes, as acting on it does: one privacy officer
proposes the rejection (ground and reason), the request stays open, and another confirms the
proposal they read, or either withdraws it."""

import datetime as dt
import html

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from governance.roles import Role
from privacy import services
from privacy.models import SubjectRequest
from privacy.services import FourEyesError, PrivacyError
from tests.api.test_rest import _client_of
from tests.factories import make_user
from tests.privacy.conftest import SUBJECT_EMAIL, receive

S = SubjectRequest.Status
Ground = SubjectRequest.RejectionGround
Action = AuditEvent.Action
REASON = f"Jane Roe ({SUBJECT_EMAIL}) is not a customer of ours."


def _propose(request, officer, ground=Ground.NO_DATA, reason=REASON):
    return services.propose_rejection(request=request, actor=officer, ground=ground, reason=reason)


def _confirm(request, officer, proposed_at=None):
    proposed_at = proposed_at or SubjectRequest.objects.get(pk=request.pk).rejection_proposed_at
    return services.confirm_rejection(request=request, actor=officer, proposed_at=proposed_at)


def _fresh(request) -> SubjectRequest:
    return SubjectRequest.objects.get(pk=request.pk)


def _page(client, request) -> str:
    response = client.get(reverse("privacy:request", args=[request.public_id]))
    assert response.status_code == 200
    return " ".join(html.unescape(response.content.decode()).split())


# --- the service ---------------------------------------------------------------------------


def test_a_proposal_leaves_the_request_open_as_it_was_and_records_who_when_and_why(officers):
    request = services.verify_identity(
        request=receive(officers), actor=officers[0], method="Called back"
    )
    _propose(request, officers[0])
    proposed = _fresh(request)
    assert proposed.status == S.VERIFIED and proposed.rejection_proposed
    assert proposed.rejection_proposed_by == officers[0] and proposed.rejection_proposed_at
    assert proposed.rejection_ground == Ground.NO_DATA and proposed.rejected_reason == REASON
    assert proposed.identifiers() == [("email", SUBJECT_EMAIL)] and proposed.completed_at is None
    assert not AuditEvent.objects.filter(action=Action.DSR_REJECTED).exists()
    details = AuditEvent.objects.get(action=Action.DSR_REJECTION_PROPOSED).details
    assert details == {
        "kind": "erasure",
        "regime": "gdpr",
        "ground": "no_data",
        "reason_chars": len(REASON),
    }


def test_the_officer_who_proposed_it_does_not_confirm_it(officers):
    request = receive(officers)
    _propose(request, officers[0])
    with pytest.raises(FourEyesError, match="You proposed rejecting this request"):
        _confirm(request, officers[0])
    assert _fresh(request).status == S.RECEIVED


def test_another_officer_confirms_and_the_request_is_rejected_as_before(officers):
    earlier = receive(officers, received_on=timezone.localdate() - dt.timedelta(days=20))
    request = receive(officers, note="Jane phoned")
    _propose(request, officers[0], ground=Ground.UNFOUNDED)
    _confirm(request, officers[1])
    rejected = _fresh(request)
    assert rejected.status == S.REJECTED and rejected.completed_at
    assert rejected.rejection_ground == Ground.UNFOUNDED and rejected.rejected_reason == REASON
    assert rejected.identifiers() == [] and rejected.note == ""
    assert rejected.reply_to() == SUBJECT_EMAIL  # kept until the outcome is told
    event = AuditEvent.objects.get(action=Action.DSR_REJECTED)
    assert event.actor == officers[1]
    assert event.details["proposed_by"] == str(officers[0].public_id)
    assert event.details["ground"] == "unfounded" and event.details["reason_chars"] == len(REASON)
    assert event.details["earlier_requests"] == [earlier.reference]
    assert SUBJECT_EMAIL not in str(event.details)


def test_a_proposal_withdrawn_and_made_again_is_not_confirmed_unseen(officers):
    third = make_user("tess@corp.example", Role.PRIVACY_OFFICER, full_name="Tess")
    request = receive(officers)
    read = _propose(request, officers[0]).rejection_proposed_at
    services.withdraw_rejection(request=request, actor=officers[0])
    again = _propose(
        request, third, ground=Ground.EXEMPTION, reason="Tax records"
    ).rejection_proposed_at
    with pytest.raises(PrivacyError, match="has changed since you read it"):
        _confirm(request, officers[1], proposed_at=read)
    with pytest.raises(PrivacyError, match="has changed since you read it"):
        services.confirm_rejection(request=request, actor=officers[1], proposed_at=None)
    assert _fresh(request).status == S.RECEIVED
    _confirm(request, officers[1], proposed_at=again)
    assert _fresh(request).status == S.REJECTED
    assert _fresh(request).rejection_ground == Ground.EXEMPTION


@pytest.mark.parametrize("by", [0, 1], ids=["the proposer", "another officer"])
def test_the_proposer_or_another_officer_withdraws_it_and_the_request_goes_on(officers, by):
    request = receive(officers)
    _propose(request, officers[0])
    services.withdraw_rejection(request=request, actor=officers[by])
    withdrawn = _fresh(request)
    assert withdrawn.status == S.RECEIVED and not withdrawn.rejection_proposed
    assert withdrawn.rejection_proposed_by is None and withdrawn.rejected_reason == ""
    assert withdrawn.rejection_ground == ""
    event = AuditEvent.objects.get(action=Action.DSR_REJECTION_WITHDRAWN)
    assert event.actor == officers[by]
    assert event.details["proposed_by"] == str(officers[0].public_id)
    with pytest.raises(PrivacyError, match="Nobody has proposed rejecting this request"):
        services.withdraw_rejection(request=request, actor=officers[1])
    with pytest.raises(PrivacyError, match="Nobody has proposed rejecting this request"):
        _confirm(request, officers[1], proposed_at=timezone.now())


def test_a_second_proposal_waits_for_the_first_to_be_settled(officers):
    request = receive(officers)
    _propose(request, officers[0])
    with pytest.raises(PrivacyError, match="Priya proposed rejecting this request on"):
        _propose(request, officers[1], ground=Ground.UNVERIFIED, reason="Other words")
    assert _fresh(request).rejected_reason == REASON


def test_an_officer_the_request_is_about_takes_no_step_on_its_rejection(officers):
    priya, omar = officers
    third = make_user("tess@corp.example", Role.PRIVACY_OFFICER, full_name="Tess")
    request = services.request_own_data(user=priya, kind=SubjectRequest.Kind.ERASURE)
    with pytest.raises(PrivacyError, match="This request is about you"):
        _propose(request, priya)
    _propose(request, omar)
    with pytest.raises(PrivacyError, match="This request is about you"):
        _confirm(request, priya)
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.withdraw_rejection(request=request, actor=priya)
    _confirm(request, third)
    assert _fresh(request).status == S.REJECTED


def test_approval_waits_while_a_rejection_is_proposed_but_scoping_goes_on(
    officers, django_capture_on_commit_callbacks
):
    first, second = officers
    request = services.verify_identity(request=receive(officers), actor=first, method="Called")
    _propose(request, second)
    request = services.scope_request(request=request, actor=first)
    assert request.status == S.SCOPED and request.rejection_proposed
    with pytest.raises(PrivacyError, match="A rejection of this request is proposed"):
        services.approve_request(request=request, actor=second)
    assert _fresh(request).status == S.SCOPED
    services.withdraw_rejection(request=request, actor=second)
    with django_capture_on_commit_callbacks(execute=False):
        services.approve_request(request=request, actor=second)
    assert _fresh(request).status == S.APPROVED


def test_once_its_execution_started_a_proposal_no_longer_stands(officers):
    request = receive(officers)
    _propose(request, officers[0])
    SubjectRequest.objects.filter(pk=request.pk).update(status=S.EXECUTING)
    assert not _fresh(request).rejection_proposed
    with pytest.raises(PrivacyError, match="can no longer be rejected"):
        _confirm(request, officers[1])


# --- the pages ---------------------------------------------------------------------------


def test_the_proposer_sees_the_proposal_waiting_for_a_second_officer(client, officers):
    request = receive(officers)
    client.force_login(officers[0])
    url = reverse("privacy:request_reject", args=[request.public_id])
    response = client.post(url, {"ground": "no_data", "reason": "Not a customer of ours"})
    assert response.status_code == 302 and response["Location"].endswith("#rejection")
    page = _page(client, request)
    on = f"{timezone.localdate():%-d %b %Y}"
    assert f"<strong>Rejection proposed</strong> by Priya on {on}" in page
    assert Ground.NO_DATA.label in page and "Not a customer of ours" in page
    assert "Waiting for a second officer to confirm it" in page
    assert reverse("privacy:request_reject_confirm", args=[request.public_id]) not in page
    assert reverse("privacy:request_reject_withdraw", args=[request.public_id]) in page
    assert 'name="ground"' not in page  # no second proposal beside the first


def test_another_officer_confirms_the_proposal_from_the_page(client, officers):
    request = receive(officers)
    proposed = _propose(request, officers[0])
    client.force_login(officers[1])
    page = _page(client, request)
    confirm = reverse("privacy:request_reject_confirm", args=[request.public_id])
    assert confirm in page and "Confirm the rejection" in page
    assert f'name="proposed_at" value="{proposed.rejection_proposed_at.isoformat()}"' in page
    response = client.post(confirm, {"proposed_at": proposed.rejection_proposed_at.isoformat()})
    assert response.status_code == 302
    assert _fresh(request).status == S.REJECTED


@pytest.mark.parametrize("proposed_at", ["", "yesterday", "2026-01-01T00:00:00+00:00"])
def test_a_confirmation_of_another_proposal_is_refused_with_a_message(
    client, officers, proposed_at
):
    request = receive(officers)
    _propose(request, officers[0])
    client.force_login(officers[1])
    confirm = reverse("privacy:request_reject_confirm", args=[request.public_id])
    response = client.post(confirm, {"proposed_at": proposed_at}, follow=True)
    assert "has changed since you read it" in html.unescape(response.content.decode())
    assert _fresh(request).status == S.RECEIVED


def test_the_proposer_confirming_from_the_page_is_told_why_not(client, officers):
    request = receive(officers)
    proposed = _propose(request, officers[0])
    client.force_login(officers[0])
    confirm = reverse("privacy:request_reject_confirm", args=[request.public_id])
    at = proposed.rejection_proposed_at.isoformat()
    response = client.post(confirm, {"proposed_at": at}, follow=True)
    assert "another privacy officer confirms it" in html.unescape(response.content.decode())
    assert _fresh(request).status == S.RECEIVED


def test_a_proposal_is_withdrawn_from_the_page(client, officers):
    request = receive(officers)
    _propose(request, officers[0])
    client.force_login(officers[1])
    withdraw = reverse("privacy:request_reject_withdraw", args=[request.public_id])
    assert client.post(withdraw).status_code == 302
    assert not _fresh(request).rejection_proposed
    page = _page(client, request)
    assert "Rejection proposed" not in page and 'name="ground"' in page


def test_staff_cannot_confirm_or_withdraw(client, officers, org):
    request = receive(officers)
    proposed = _propose(request, officers[0])
    client.force_login(org.carol)
    at = proposed.rejection_proposed_at.isoformat()
    for name in ("privacy:request_reject_confirm", "privacy:request_reject_withdraw"):
        response = client.post(reverse(name, args=[request.public_id]), {"proposed_at": at})
        assert response.status_code in (403, 404)
    assert _fresh(request).rejection_proposed


def test_the_desk_line_says_a_rejection_waits_for_a_second_officer(client, officers):
    first, second = officers
    request = services.verify_identity(request=receive(officers), actor=first, method="Called")
    request = services.scope_request(request=request, actor=first)
    client.force_login(second)
    assert "you may approve it" in client.get("/privacy/").content.decode()
    _propose(request, second)
    page = client.get("/privacy/").content.decode()
    assert "Rejection proposed: waiting for a second officer" in page
    assert "you may approve it" not in page  # approval waits until it is settled
    assert REASON not in html.unescape(page)


def test_while_a_rejection_is_proposed_nobody_is_asked_to_approve(
    client, officers, mailoutbox, django_capture_on_commit_callbacks
):
    """Scoped after a proposal: no mail asks the other officer to approve, the desk neither
    counts it as theirs to approve nor flags that no officer may, and the page's button is
    off with the reason beside it."""
    first, second = officers
    request = services.verify_identity(request=receive(officers), actor=first, method="Called")
    _propose(request, second)
    with django_capture_on_commit_callbacks(execute=True):
        services.scope_request(request=request, actor=first)
    assert not [mail for mail in mailoutbox if "waits for your approval" in mail.subject]
    client.force_login(second)
    desk = client.get("/privacy/").content.decode()
    assert "No officer may approve it" not in desk and "you may approve it" not in desk
    page = _page(client, request)
    assert "confirm or withdraw it before anyone approves" in page
    assert 'disabled aria-describedby="approve-why">Approve and execute' in page


def test_the_person_is_not_told_of_a_proposal(client, officers, org):
    own = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)
    _propose(own, officers[0], reason="Alice asked for nothing of the kind")
    client.force_login(org.alice)
    for page in (
        client.get(reverse("privacy:mine")).content.decode(),
        _page(client, own),
        client.get(
            reverse("privacy:request_letter", args=[own.public_id]), follow=True
        ).content.decode(),
    ):
        page = html.unescape(page)
        assert "Rejection proposed" not in page and "Rejected" not in page
        assert "Alice asked for nothing" not in page and "no data held" not in page.lower()


# --- REST --------------------------------------------------------------------------------


def test_rest_proposes_confirms_and_withdraws_with_four_eyes(officers):
    request = receive(officers)
    base = f"/api/privacy/requests/{request.public_id}/reject/"
    first, second = _client_of(officers[0]), _client_of(officers[1])
    proposed = first.post(base, {"ground": "no_data", "reason": "Not ours"}, format="json")
    assert proposed.status_code == 200, proposed.content
    shown = proposed.json()
    assert shown["status"] == "received" and shown["rejection_proposed_by"] == "Priya"
    assert shown["rejection_ground"] == "no_data" and shown["rejected_reason"] == "Not ours"
    read = {"rejection_proposed_at": shown["rejection_proposed_at"]}
    assert first.post(base + "confirm/", read, format="json").status_code == 403
    assert second.post(base + "confirm/", {}, format="json").status_code == 400
    withdrawn = second.post(base + "withdraw/", format="json")
    assert withdrawn.status_code == 200 and withdrawn.json()["rejection_proposed_at"] is None
    again = first.post(base, {"ground": "unverified", "reason": "No reply"}, format="json")
    stale = second.post(base + "confirm/", read, format="json")
    assert stale.status_code == 400 and "changed since you read it" in str(stale.json())
    assert _fresh(request).status == S.RECEIVED
    read = {"rejection_proposed_at": again.json()["rejection_proposed_at"]}
    done = second.post(base + "confirm/", read, format="json")
    assert done.status_code == 200 and done.json()["status"] == "rejected"
    assert done.json()["rejection_ground"] == "unverified"


def test_a_rejection_nobody_may_confirm_says_so_on_the_desk_and_its_page(client, officers):
    """Two officers, the request about one, the other proposes: nobody may confirm it, and
    approval waits for it (a review found it shown as simply waiting)."""
    first, second = officers
    about_second = receive(officers, identifiers=[("email", second.email)])
    _propose(about_second, first)
    client.force_login(first)
    desk = " ".join(html.unescape(client.get("/privacy/").content.decode()).split())
    assert "Rejection proposed: no officer may confirm it, a third privacy officer" in desk
    assert "No privacy officer may confirm it" in _page(client, about_second)
    client.force_login(second)
    page = _page(client, about_second)  # the steps are not theirs to see
    assert REASON not in page and "Confirm the rejection" not in page
    make_user("third@corp.example", Role.PRIVACY_OFFICER)
    client.force_login(first)
    assert "No privacy officer may confirm it" not in _page(client, about_second)
