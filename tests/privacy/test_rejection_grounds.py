"""A rejection names its legal ground (GDPR Art. 12(5), 12(6), 11(2), 17(3), 23; the CCPA's
verifiable request and § 1798.145): the officer picks it, the letter says it in plain words
with the person's rights, the trail keeps its code, and a claim of excess rests on the
person's earlier requests, which the request page counts."""

import datetime as dt
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from privacy import policy, services
from privacy.forms import RejectForm
from privacy.models import SubjectRequest
from privacy.services import FieldRefused, PrivacyError
from tests.api.test_rest import _client_of
from tests.privacy.conftest import SUBJECT_EMAIL, receive, reject

Ground = SubjectRequest.RejectionGround


def _page(client, request) -> str:
    response = client.get(reverse("privacy:request", args=[request.public_id]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _letter(client, request) -> str:
    response = client.get(reverse("privacy:request_letter", args=[request.public_id]))
    assert response.status_code == 200
    return " ".join(html.unescape(response.content.decode()).split())


def _days_ago(days: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=days)


# --- the form and the service --------------------------------------------------------------


def test_the_form_asks_for_a_ground_among_the_choices_and_still_for_the_reason():
    assert not RejectForm({"reason": "Asked five times this month"}).is_valid()
    assert "ground" in RejectForm({"reason": "x", "ground": "because"}).errors
    assert "reason" in RejectForm({"ground": Ground.EXCESSIVE}).errors
    assert "reason" in RejectForm({"ground": Ground.EXCESSIVE, "reason": "x" * 501}).errors
    form = RejectForm({"ground": Ground.EXCESSIVE, "reason": "Asked five times this month"})
    assert form.is_valid() and form.cleaned_data["ground"] == Ground.EXCESSIVE


def test_the_service_refuses_a_ground_that_is_not_one_of_the_law(officers):
    request = receive(officers)
    for ground in ("", "because"):
        with pytest.raises(PrivacyError, match="ground"):
            reject(request, officers, ground=ground)
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.RECEIVED and not request.rejection_ground


def test_the_ground_is_stored_and_its_code_alone_reaches_the_trail(officers):
    reason = f"Jane Roe ({SUBJECT_EMAIL}) could not say which account is hers."
    request = reject(receive(officers), officers, ground=Ground.UNVERIFIED, reason=reason)
    request.refresh_from_db()
    assert request.rejection_ground == Ground.UNVERIFIED and request.rejected_reason == reason
    details = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REJECTED).details
    assert details["ground"] == "unverified" and details["reason_chars"] == len(reason)
    assert SUBJECT_EMAIL not in str(details) and "Jane Roe" not in str(details)


def test_an_excessive_refusal_records_the_earlier_requests_it_rests_on(officers):
    before = receive(officers, received_on=_days_ago(20))
    reject(before, officers)
    request = receive(officers)
    reject(request, officers, ground=Ground.EXCESSIVE, reason="The third this month")
    rejected = AuditEvent.objects.filter(action=AuditEvent.Action.DSR_REJECTED)
    details = rejected.order_by("sequence").last().details
    assert details["ground"] == "excessive" and details["earlier_requests"] == [before.reference]


def test_excessive_is_refused_beside_its_ground_with_no_earlier_request_on_record(officers):
    request = receive(officers)
    with pytest.raises(FieldRefused) as refused:
        reject(request, officers, ground=Ground.EXCESSIVE, reason="Asks too often")
    assert refused.value.field == "ground"
    assert "No earlier request from the same person is on record" in str(refused.value)
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.RECEIVED and request.identifiers()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_REJECTED).exists()


def test_a_follow_up_erasures_own_original_is_no_earlier_request(
    org, officers, django_capture_on_commit_callbacks
):
    """The erasure a hold kept from finishing is the same request carried on: refusing its
    follow-up as excessive on the strength of it was accepted (a review found it)."""
    from tests.privacy.conftest import make_conversation, mention, release, run

    kept = make_conversation(org.carol, org.internal, texts=(f"About {SUBJECT_EMAIL}", "Noted"))
    mention(kept, "EMAIL_ADDRESS", SUBJECT_EMAIL)
    hold = services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    first = run(receive(officers), officers, django_capture_on_commit_callbacks)
    release(hold, asked_by=officers[0], confirmed_by=officers[1])
    follow_up = services.finish_erasure(
        request=first, actor=officers[0], identifiers=[("email", SUBJECT_EMAIL)]
    )
    assert services.earlier_requests(follow_up) == []
    with pytest.raises(FieldRefused, match="No earlier request from the same person"):
        reject(follow_up, officers[::-1], ground=Ground.EXCESSIVE, reason="Repetitive")
    again = receive(officers, received_on=_days_ago(2))  # the person asked again meanwhile
    assert [e.request for e in services.earlier_requests(follow_up)] == [again]


def test_manifestly_unfounded_needs_no_earlier_request(officers):
    request = reject(receive(officers), officers, ground=Ground.UNFOUNDED, reason="A prank")
    assert request.status == SubjectRequest.Status.REJECTED
    details = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REJECTED).details
    assert details["earlier_requests"] == []


# --- the pages -------------------------------------------------------------------------------


def test_the_reject_form_offers_each_ground_as_a_radio_button(client, officers):
    request = receive(officers)
    client.force_login(officers[1])
    page = _page(client, request)
    for ground in Ground:
        assert f'type="radio" name="ground" value="{ground.value}"' in page
        assert ground.label in page


def test_a_rejection_posted_without_a_ground_is_refused_with_the_form_again(client, officers):
    request = receive(officers)
    client.force_login(officers[1])
    url = reverse("privacy:request_reject", args=[request.public_id])
    response = client.post(url, {"reason": "Not a customer of ours"})
    assert response.status_code == 422 and b"Choose the ground" in response.content
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.RECEIVED
    response = client.post(url, {"ground": "exemption", "reason": "Tax records: kept 10 years"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.RECEIVED  # proposed: a second officer confirms
    assert request.rejection_ground == Ground.EXEMPTION and request.rejection_proposed


def test_an_excessive_rejection_without_evidence_comes_back_beside_the_ground(client, officers):
    request = receive(officers)
    client.force_login(officers[1])
    url = reverse("privacy:request_reject", args=[request.public_id])
    response = client.post(url, {"ground": "excessive", "reason": "Asks every week"})
    assert response.status_code == 422
    page = html.unescape(response.content.decode())
    beside_ground = page.split('id="reject_ground_error"')[1].split("</div>")[0]
    assert "No earlier request from the same person is on record" in beside_ground
    assert "Asks every week</textarea>" in page
    chosen = re.search(r'<input[^>]*value="excessive"[^>]*>', page).group()
    assert "checked" in chosen and "autofocus" in chosen
    assert page.count("autofocus") == 1
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.RECEIVED


# --- the evidence: the same person's earlier requests ---------------------------------------


def test_earlier_requests_of_the_same_person_are_counted_by_keyed_hash_and_account(officers, org):
    alice = [("email", org.alice.email)]
    request = receive(officers, identifiers=alice, subject_user=org.alice)
    by_hash = receive(officers, kind="access", received_on=_days_ago(30), identifiers=alice)
    by_account = receive(
        officers,
        received_on=_days_ago(200),
        identifiers=[("phone", "+44 20 7946 0958")],
        subject_user=org.alice,
    )
    receive(officers, kind="access", received_on=_days_ago(10))  # someone else
    receive(officers, received_on=policy.add_months(timezone.localdate(), -13), identifiers=alice)
    found = services.earlier_requests(request)
    assert [earlier.request.reference for earlier in found] == [
        by_hash.reference,
        by_account.reference,
    ]
    assert found[0].matched_by == ("email",) and found[1].matched_by == ("account",)


def test_a_request_counts_neither_itself_nor_requests_received_after_it(officers):
    request = receive(officers, received_on=_days_ago(5))
    receive(officers, kind="access")
    assert services.earlier_requests(request) == []


def test_the_request_page_shows_officers_the_earlier_requests(client, officers, org):
    earlier = receive(officers, kind="access", received_on=_days_ago(30))
    request = receive(officers)
    client.force_login(officers[1])
    page = _page(client, request)
    assert "1 earlier request from the same person in the 12 months" in page
    assert earlier.reference in page
    alone = receive(officers, identifiers=[("email", "someone@example.org")])
    assert "No earlier request from the same person in the 12 months" in _page(client, alone)


def test_the_person_does_not_see_the_evidence_on_their_own_request(client, officers, org):
    receive(officers, received_on=_days_ago(30), identifiers=[("email", org.alice.email)])
    own = services.request_own_data(user=org.alice, kind="access")
    client.force_login(org.alice)
    assert "earlier request" not in _page(client, own)


# --- the letter --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ground", "words"),
    [
        (Ground.UNVERIFIED, "We could not confirm that the request comes from you"),
        (Ground.UNFOUNDED, "manifestly unfounded"),
        (Ground.EXCESSIVE, "excessive, in particular because it repeats"),
        (Ground.EXEMPTION, "requires or allows us to keep"),
        (Ground.NO_DATA, "found none, so there is nothing to erase"),
    ],
)
def test_a_gdpr_letter_states_the_ground_the_reason_and_the_right_to_complain_and_go_to_court(
    client, officers, ground, words
):
    receive(officers, kind="access", received_on=_days_ago(30))  # evidence for excessive
    request = reject(receive(officers), officers, ground=ground, reason="Our own words")
    client.force_login(officers[1])
    letter = _letter(client, request)
    assert words in letter and "because: Our own words" in letter
    assert "complain to a data protection supervisory authority" in letter
    assert "(GDPR, Article 77)" in letter and "judicial remedy" in letter
    assert "(Article 79)" in letter and "California" not in letter


def test_a_ccpa_letter_uses_the_ccpa_words_and_the_agencies_to_complain_to(client, officers):
    request = receive(officers, regime="ccpa")
    request = reject(request, officers, ground=Ground.UNVERIFIED, reason="No reply to us")
    client.force_login(officers[1])
    letter = _letter(client, request)
    assert "We could not verify that the request comes from you" in letter
    assert "verifiable consumer request" in letter and "because: No reply to us" in letter
    assert "California Privacy Protection Agency" in letter
    assert "California Attorney General" in letter
    assert "GDPR" not in letter and "supervisory authority" not in letter


def test_a_ccpa_exemption_names_the_deletion_exceptions(client, officers):
    request = receive(officers, regime="ccpa")
    request = reject(request, officers, ground=Ground.EXEMPTION, reason="Warranty records")
    client.force_login(officers[1])
    assert "§ 1798.105(d)" in _letter(client, request)


def test_a_rejection_recorded_before_grounds_still_reads_as_before(client, officers):
    request = reject(receive(officers), officers)
    SubjectRequest.objects.filter(pk=request.pk).update(rejection_ground="")
    client.force_login(officers[1])
    letter = _letter(client, request)
    assert "because: Not a customer of ours" in letter and "found none" not in letter


# --- REST ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ground", [None, "", "because", 3, ["excessive"]])
def test_rest_refuses_a_missing_or_unknown_ground_with_a_message(officers, ground):
    request = receive(officers)
    body = {"reason": "Asked five times"} | ({} if ground is None else {"ground": ground})
    url = f"/api/privacy/requests/{request.public_id}/reject/"
    refused = _client_of(officers[1]).post(url, body, format="json")
    assert refused.status_code == 400
    assert refused.json()["ground"]
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.RECEIVED


def test_rest_rejects_with_the_ground_and_shows_it(officers):
    request = receive(officers)
    url = f"/api/privacy/requests/{request.public_id}/reject/"
    body = {"ground": "excessive", "reason": "Asked five times"}
    refused = _client_of(officers[1]).post(url, body, format="json")
    assert refused.status_code == 400
    assert "No earlier request from the same person" in refused.json()["ground"][0]  # beside it
    receive(officers, kind="access", received_on=_days_ago(30))
    proposed = _client_of(officers[1]).post(url, body, format="json")
    assert proposed.status_code == 200, proposed.content
    assert proposed.json()["rejection_ground"] == "excessive"
    assert proposed.json()["status"] == "received" and proposed.json()["rejection_proposed_by"]
    read = {"rejection_proposed_at": proposed.json()["rejection_proposed_at"]}
    done = _client_of(officers[0]).post(url + "confirm/", read, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["rejection_ground"] == "excessive" and done.json()["status"] == "rejected"
