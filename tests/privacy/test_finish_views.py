"""An erasure a legal hold kept from finishing, on the pages: the release says so, the desk
lists it, and its page records the follow-up erasure."""

import pytest
from django.urls import reverse

from privacy import services
from privacy.models import SubjectRequest
from tests.privacy.conftest import make_conversation, receive, run


@pytest.fixture
def withheld(org, officers, django_capture_on_commit_callbacks):
    """Alice's erasure, completed while a hold kept her account and two conversations."""
    make_conversation(org.alice, org.internal)
    make_conversation(org.alice, org.internal)
    hold = services.place_hold(actor=officers[0], reason="Litigation 21", user=org.alice)
    erasure = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    return hold, run(erasure, officers, django_capture_on_commit_callbacks)


def test_a_released_hold_leads_to_finishing_the_erasure_it_kept(client, officers, withheld):
    hold, request = withheld
    client.force_login(officers[0])
    page = client.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    assert "2 conversations and the account still under a legal hold" in page
    assert reverse("privacy:request_finish", args=[request.public_id]) not in page

    released = client.post(
        reverse("privacy:hold_release", args=[hold.public_id]), {"reason": "Settled"}, follow=True
    )
    assert "1 completed erasure left content that no hold keeps now" in released.content.decode()
    desk = client.get(reverse("privacy:desk")).content.decode()
    assert "Erasures left unfinished by a legal hold" in desk and request.reference in desk
    page = client.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    assert "this erasure left 2 conversations and the account behind" in page

    bad = client.post(reverse("privacy:request_finish", args=[request.public_id]), {"email": "x"})
    assert bad.status_code == 422 and 'value="x"' in bad.content.decode()
    assert SubjectRequest.objects.count() == 1

    finished = client.post(
        reverse("privacy:request_finish", args=[request.public_id]), {"name": "Alice Martin"}
    )
    follow_up = SubjectRequest.objects.exclude(pk=request.pk).get()
    assert finished["Location"] == reverse("privacy:request", args=[follow_up.public_id])
    assert follow_up.status == SubjectRequest.Status.VERIFIED
    assert ("name", "Alice Martin") in follow_up.identifiers()
    page = client.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    assert f"being finished by {follow_up.reference}" in page


def test_only_officers_may_finish_an_erasure(client, org, withheld):
    _, request = withheld
    client.force_login(org.carol)
    response = client.post(reverse("privacy:request_finish", args=[request.public_id]))
    assert response.status_code in (403, 404)
    assert SubjectRequest.objects.count() == 1
