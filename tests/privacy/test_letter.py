"""The answer to the requester in words: what was asked, what was done or why not, what
was kept and why, who received their data, their rights and the receipt's hash. The
receipt alone was a JSON file."""

import datetime as dt
import html

import pytest
from django.urls import reverse
from django.utils import timezone

from privacy import services
from tests.privacy.conftest import make_conversation, mention, receive, run


def _letter(client, request) -> str:
    response = client.get(reverse("privacy:request_letter", args=[request.public_id]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_an_erasure_is_answered_with_what_was_erased_kept_and_sent(
    client, org, officers, settings, django_capture_on_commit_callbacks
):
    settings.STEWARD_PRIVACY_CONTACT = "Example Ltd, Data Protection Officer, dpo@example.com"
    kept = make_conversation(org.carol, org.internal, texts=("Mail jane.roe@example.org",))
    mention(kept, "EMAIL_ADDRESS", "jane.roe@example.org")
    named = make_conversation(org.alice, org.internal, texts=("Ask jane.roe@example.org",))
    mention(named, "EMAIL_ADDRESS", "jane.roe@example.org")
    services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    request = run(receive(officers), officers, django_capture_on_commit_callbacks)
    client.force_login(officers[1])
    page = client.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    assert reverse("privacy:request_letter", args=[request.public_id]) in page
    letter = _letter(client, request)
    assert "Example Ltd, Data Protection Officer, dpo@example.com" in letter
    assert f"Your request {request.reference}" in letter
    assert "to erase the personal data we hold about you (GDPR, Article 17)" in letter
    assert "within the time the law allows" in letter
    assert '1 in 1 conversation, where each mention of you now reads "[erased]"' in letter
    assert "We must keep 1 conversation for now, for a legal claim or obligation" in letter
    assert "Litigation 4" not in letter  # the hold's reason is the company's, not theirs
    assert request.receipt_hash in letter
    assert "supervisory authority" in letter and "(Article 79)" in letter


def test_a_late_extended_access_request_says_so_and_where_the_copy_is(
    client, org, officers, django_capture_on_commit_callbacks
):
    received = timezone.localdate() - dt.timedelta(days=40)
    request = receive(officers, kind="access", regime="ccpa", received_on=received,
                      identifiers=[("email", org.alice.email)], subject_user=org.alice)  # fmt: skip
    request = services.extend_request(request=request, actor=officers[0], reason="Three systems")
    request.due_on = timezone.localdate() - dt.timedelta(days=2)  # as if it were answered late
    request.save(update_fields=["due_on"])
    request = run(request, officers, django_capture_on_commit_callbacks)
    client.force_login(org.alice)  # the person it is about reads it too
    letter = _letter(client, request)
    assert "for a copy of the personal data we hold about you (CCPA, your right to know)" in letter
    assert "because: Three systems" in letter
    assert f"{request.days_late} days after the date the law sets" in letter
    assert "download it from your request's page in Steward" in letter
    assert "No message naming you was sent to an AI model." in letter
    assert "will not be treated differently" in letter


def test_a_rejection_gives_its_reason(client, officers):
    request = receive(officers)
    services.reject_request(request=request, actor=officers[0], reason="Not a customer of ours")
    client.force_login(officers[1])
    letter = _letter(client, request)
    assert "We did not act on it" in letter and "because: Not a customer of ours" in letter
    assert "What we erased" not in letter and "SHA-256" not in letter


def test_an_open_request_has_no_letter_yet(client, officers):
    request = receive(officers)
    client.force_login(officers[0])
    response = client.get(reverse("privacy:request_letter", args=[request.public_id]), follow=True)
    assert "The letter is written once the request is answered." in response.content.decode()


@pytest.mark.parametrize("who", ["staff", "nobody"])
def test_nobody_else_reads_it(client, org, officers, who):
    request = receive(officers)
    services.reject_request(request=request, actor=officers[0], reason="Not a customer of ours")
    if who == "staff":
        client.force_login(org.carol)
    url = reverse("privacy:request_letter", args=[request.public_id])
    response = client.get(url)
    assert response.status_code in (302, 404)
    assert b"Not a customer of ours" not in response.content
