"""The answer to the requester in words: what was asked, what was done or why not, what
was kept and why, who received their data, their rights and the receipt's hash. The
receipt alone was a JSON file."""

import datetime as dt
import html

import pytest
from django.urls import reverse
from django.utils import timezone

from privacy import services
from tests.privacy.conftest import make_conversation, mention, receive, reject, run


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
    reject(request, officers, ground="no_data", reason="Not a customer of ours")
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
    reject(request, officers, ground="no_data", reason="Not a customer of ours")
    if who == "staff":
        client.force_login(org.carol)
    url = reverse("privacy:request_letter", args=[request.public_id])
    response = client.get(url)
    assert response.status_code in (302, 404)
    assert b"Not a customer of ours" not in response.content


def test_content_kept_or_titles_erased_is_not_called_nothing_found(
    client, org, officers, django_capture_on_commit_callbacks
):
    """It said "We found no message … that named you" above "We must keep 1 conversation"."""
    from audit.services import pseudonym
    from chat.models import SubjectMention
    from chat.pseudonyms import canonical

    kept = make_conversation(org.carol, org.internal, texts=("Mail jane.roe@example.org",))
    mention(kept, "EMAIL_ADDRESS", "jane.roe@example.org")
    services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    titled = make_conversation(org.alice, org.internal)
    titled.title = "Call jane.roe@example.org"
    titled.save(update_fields=["title_sealed"])
    SubjectMention.objects.create(
        digest=pseudonym(canonical("EMAIL_ADDRESS", "jane.roe@example.org")),
        kind="EMAIL_ADDRESS",
        conversation=titled,
    )
    request = run(receive(officers), officers, django_capture_on_commit_callbacks)
    client.force_login(officers[1])
    letter = _letter(client, request)
    assert "We found no message" not in letter
    assert "Titles of other people's conversations that named you: 1" in letter
    assert "We must keep 1 conversation for now" in letter


def test_an_expired_copy_is_not_offered_for_download(
    client, org, officers, django_capture_on_commit_callbacks
):
    from privacy import archive
    from privacy.models import SubjectRequest

    request = receive(officers, kind="access", identifiers=[("email", org.alice.email)],
                      subject_user=org.alice)  # fmt: skip
    request = run(request, officers, django_capture_on_commit_callbacks)
    client.force_login(org.alice)
    assert "You can download it from your request's page in Steward until" in _letter(
        client, request
    )
    SubjectRequest.objects.filter(pk=request.pk).update(
        completed_at=timezone.now() - dt.timedelta(days=31)
    )
    assert archive.drop_expired() == 1
    letter = _letter(client, request)
    assert "You can download it" not in letter and "ask us if you need a new copy" in letter


def test_a_follow_up_erasure_names_the_request_it_finishes(
    client, org, officers, django_capture_on_commit_callbacks
):
    """It said the person asked on the day an officer recorded the follow-up."""
    from tests.privacy.conftest import release

    kept = make_conversation(org.carol, org.internal, texts=("Mail jane.roe@example.org",))
    mention(kept, "EMAIL_ADDRESS", "jane.roe@example.org")
    hold = services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    first = receive(officers, received_on=timezone.localdate() - dt.timedelta(days=20))
    first = run(first, officers, django_capture_on_commit_callbacks)
    release(hold, asked_by=officers[0], confirmed_by=officers[1])
    follow_up = services.finish_erasure(
        request=first, actor=officers[0], identifiers=[("email", "jane.roe@example.org")]
    )
    follow_up = run(follow_up, officers, django_capture_on_commit_callbacks)
    client.force_login(officers[1])
    letter = _letter(client, follow_up)
    assert f"(our reference {first.reference})" in letter
    assert f"On {first.received_on.day} {first.received_on:%B %Y} you asked us" in letter
    assert "That obligation has ended" in letter


def test_a_late_rejection_says_it_was_late(client, officers):
    request = receive(officers, received_on=timezone.localdate() - dt.timedelta(days=40))
    reject(request, officers, ground="no_data", reason="Not a customer of ours")
    client.force_login(officers[1])
    assert "we are sorry for the delay" in _letter(client, request)
