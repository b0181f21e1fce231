"""The answer says what was kept and why, and what Steward cannot find: the audit trail
(who did what, when), the receipt's keyed hashes, and mentions by name alone. It said
"Your account, with its settings and records" was erased, and "We completed it"."""

import html

from django.urls import reverse

from audit.models import AuditEvent
from governance.models import Clearance
from privacy import services
from privacy.models import SubjectRequest
from tests.privacy.conftest import receive, run

BY_NAME_ALONE = (
    "messages that mention you only by your name, without an email address, phone number "
    "or other identifier, are not found"
)


def _letter(client, request) -> str:
    response = client.get(reverse("privacy:request_letter", args=[request.public_id]))
    assert response.status_code == 200
    return " ".join(html.unescape(response.content.decode()).split())


def test_an_erasure_letter_says_what_is_kept_and_why(
    client, org, officers, django_capture_on_commit_callbacks
):
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ERASURE)
    request = run(request, officers, django_capture_on_commit_callbacks)
    client.force_login(officers[1])
    letter = _letter(client, request)
    assert "with its settings and records" not in letter
    kept = letter[letter.index("What we keep and why") :]
    assert "audit trail's records of who did what in Steward, and when" in kept
    assert "your name, email address and sign-in addresses were removed with your account" in kept
    assert "Older records still carry them as they were then" in kept
    assert "Article 17(3)(b) and (e)" in kept
    assert "The records themselves have no time limit" in kept
    assert "only as keyed hashes: codes that cannot be turned back into them" in kept
    assert "only by your name, without an email address, phone number or other identifier" in kept


def test_an_outside_persons_erasure_letter_keeps_no_account_records(
    client, officers, django_capture_on_commit_callbacks
):
    request = run(receive(officers), officers, django_capture_on_commit_callbacks)
    client.force_login(officers[1])
    kept = _letter(client, request).split("What we keep and why")[1]
    assert "audit trail" not in kept.split("Who received your data")[0]
    assert "keyed hashes" in kept and "only by your name" in kept


def test_an_access_letter_says_mentions_by_name_alone_are_not_found(
    client, org, officers, django_capture_on_commit_callbacks
):
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)
    request = run(request, officers, django_capture_on_commit_callbacks)
    client.force_login(org.alice)
    assert BY_NAME_ALONE in _letter(client, request)


def test_the_erasure_removes_the_persons_own_clearances_and_audits_it_by_no_name(
    org, officers, django_capture_on_commit_callbacks
):
    name, email = org.alice.full_name, org.alice.email
    Clearance.objects.create(category=org.confidential, user=org.alice, granted_by=officers[0])
    group_cleared = Clearance.objects.filter(group__isnull=False).count()
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ERASURE)
    run(request, officers, django_capture_on_commit_callbacks)
    assert not Clearance.objects.filter(user=org.alice).exists()
    assert Clearance.objects.filter(group__isnull=False).count() == group_cleared
    event = AuditEvent.objects.get(message="Clearance removed with the erased account")
    assert event.before == {
        "category": org.confidential.number,
        "user": str(org.alice.public_id),
    }
    written = f"{event.actor_label} {event.target_repr} {event.before}"
    assert email not in written and (not name or name not in written)
