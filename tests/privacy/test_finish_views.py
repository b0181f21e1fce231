"""An erasure a legal hold kept from finishing, on the pages: the release says so, the desk
lists it, and its page records the follow-up erasure."""

import html
import itertools
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.services import pseudonym
from chat.pseudonyms import canonical
from privacy import services
from privacy.models import LegalHold, SubjectRequest
from tests.privacy.conftest import (
    SUBJECT_EMAIL,
    make_conversation,
    mention,
    receive,
    release,
    run,
)


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

    asked = services.ask_release(hold=hold, actor=officers[1], reason="Settled")
    released = client.post(
        reverse("privacy:hold_release_confirm", args=[hold.public_id]),
        {"asked_at": asked.release_asked_at.isoformat()},
        follow=True,
    )
    assert "1 completed erasure left content that no hold keeps now" in released.content.decode()
    desk = client.get(reverse("privacy:desk")).content.decode()
    assert "Erasures left unfinished by a legal hold" in desk and request.reference in desk
    page = client.get(reverse("privacy:request", args=[request.public_id])).content.decode()
    assert "this erasure left 2 conversations and the account behind" in page

    bad = client.post(reverse("privacy:request_finish", args=[request.public_id]), {"email": "x"})
    assert bad.status_code == 422 and ">\nx</textarea>" in bad.content.decode()
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


def test_a_follow_up_missing_an_identifier_is_refused_beside_its_field_as_typed(
    client, org, officers, django_capture_on_commit_callbacks
):
    kept = make_conversation(org.carol, org.internal, texts=(f"Mail {SUBJECT_EMAIL}",))
    mention(kept, "EMAIL_ADDRESS", SUBJECT_EMAIL)
    hold = services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    named = receive(officers, identifiers=[("email", SUBJECT_EMAIL), ("name", "Jane Roe")])
    request = run(named, officers, django_capture_on_commit_callbacks)
    release(hold, asked_by=officers[0], confirmed_by=officers[1])
    client.force_login(officers[0])

    url = reverse("privacy:request_finish", args=[request.public_id])
    refused = client.post(url, {"email": SUBJECT_EMAIL})
    assert refused.status_code == 422
    page = html.unescape(refused.content.decode())
    beside_name = page.split('id="finish_name_error"')[1].split("</div>")[0]
    assert "also named 1 name not given here" in beside_name
    assert f"as it was given for {request.reference}" in beside_name
    assert f">\n{SUBJECT_EMAIL}</textarea>" in page
    assert "autofocus" in re.search(r'<textarea[^>]*id="finish_name"[^>]*>', page).group()
    assert SubjectRequest.objects.count() == 1


def test_only_officers_may_finish_an_erasure(client, org, withheld):
    _, request = withheld
    client.force_login(org.carol)
    response = client.post(reverse("privacy:request_finish", args=[request.public_id]))
    assert response.status_code in (403, 404)
    assert SubjectRequest.objects.count() == 1


_numbers = itertools.count()


def _completed_erasure(*, subject=None, email: str) -> SubjectRequest:
    """An erasure completed now that withheld one conversation under a legal hold."""
    return SubjectRequest.objects.create(
        reference=f"DSR-2026-{next(_numbers):04}",
        kind=SubjectRequest.Kind.ERASURE,
        regime=SubjectRequest.Regime.GDPR,
        status=SubjectRequest.Status.COMPLETED,
        subject_user=subject,
        received_on=timezone.localdate(),
        due_on=timezone.localdate(),
        completed_at=timezone.now(),
        digests=[pseudonym(canonical("EMAIL_ADDRESS", email))],
        receipt={"counts": {"withheld_conversations": 1}},
    )


def _erasures(org, n: int) -> None:
    """``n`` erasures of each kind: still held, free to finish, and with nothing left."""
    for _ in range(n):
        _completed_erasure(subject=org.alice, email=org.alice.email)
        email = f"person{next(_numbers)}@example.org"
        mention(make_conversation(org.carol, org.internal), "EMAIL_ADDRESS", email)
        _completed_erasure(email=email)
        _completed_erasure(email=f"gone{next(_numbers)}@example.org")


def test_the_desk_checks_every_erasure_left_unfinished_in_the_same_queries(client, officers, org):
    """What completed erasures left behind is read in the same queries for 2 of each kind
    as for 20; one found to have left nothing behind is marked and never read again."""
    make_conversation(org.alice, org.internal)
    LegalHold.objects.create(user=org.alice, reason="Litigation 21")
    client.force_login(officers[0])
    client.get(reverse("privacy:desk"))

    def desk_queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse("privacy:desk")).content.decode()
        return len(queries), page

    _erasures(org, 2)
    small, page = desk_queries()
    assert page.count("1 conversation can be erased now") == 2
    _erasures(org, 20)
    large, page = desk_queries()
    assert page.count("1 conversation can be erased now") == 22
    assert large == small
    assert SubjectRequest.objects.exclude(nothing_left_at=None).count() == 22

    settled, _ = desk_queries()
    assert settled == small - 1  # nothing newly settled to mark
