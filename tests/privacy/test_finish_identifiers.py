"""A follow-up erasure finishes what a legal hold kept from an erasure: it must erase every
identifier the first one named, or a name that only its literal finds stays in the text the
letter says is erased. What is missing is said by kind and count beside its field, never by
value (the first request's identifiers are gone). Its clock is the first request's while that
still runs."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from privacy import policy, services
from privacy.models import SubjectRequest
from privacy.scope import digest_of
from privacy.services import FieldRefused
from tests.privacy.conftest import SUBJECT_EMAIL, make_conversation, mention, receive, release, run

NAME = "Jane Roe"
PHONE = "+44 20 7946 0958"


def _withheld_erasure(org, officers, capture, *, identifiers, received_on=None):
    """An erasure of Jane Roe, completed while a hold kept Carol's conversation that names
    her (found by the index through her email; her name is found by its literal only), the
    hold since released."""
    kept = make_conversation(
        org.carol, org.internal, texts=(f"Complaint of {NAME}, {SUBJECT_EMAIL}", "Noted")
    )
    mention(kept, "EMAIL_ADDRESS", SUBJECT_EMAIL)
    hold = services.place_hold(actor=officers[1], reason="Litigation 4", conversation=kept)
    first = receive(
        officers, identifiers=identifiers, received_on=received_on or timezone.localdate()
    )
    first = run(first, officers, capture)
    assert first.receipt["counts"]["withheld_conversations"] == 1
    release(hold, asked_by=officers[0], confirmed_by=officers[1])
    return first, kept


def _finish(first, officers, *identifiers):
    return services.finish_erasure(request=first, actor=officers[0], identifiers=list(identifiers))


def test_it_refuses_a_follow_up_that_leaves_out_the_name_the_first_erasure_named(
    org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first, kept = _withheld_erasure(
        org, officers, capture, identifiers=[("email", SUBJECT_EMAIL), ("name", NAME)]
    )
    with pytest.raises(FieldRefused) as refused:
        _finish(first, officers, ("email", SUBJECT_EMAIL))
    assert refused.value.field == "name"
    assert str(refused.value) == (
        "The original erasure also named 1 name not given here: give the subject's name as "
        f"it was given for {first.reference}."
    )
    assert SubjectRequest.objects.count() == 1
    # Recorded: how many were missing, never what was tried (a guess would otherwise go
    # unseen: each refusal says whether the name given is the one it named).
    refusal = AuditEvent.objects.get(action=AuditEvent.Action.DSR_FOLLOW_UP_REFUSED)
    assert refusal.target_id == str(first.public_id) and refusal.details["missing"] == 1
    assert "jane" not in str(refusal.details).lower()

    follow_up = _finish(first, officers, ("email", SUBJECT_EMAIL), ("name", "jane ROE"))
    follow_up = run(follow_up, officers, capture)
    text = kept.messages.order_by("created_at", "pk").first().content
    assert NAME not in text and SUBJECT_EMAIL not in text


def test_it_never_says_the_missing_value_and_says_when_the_one_given_is_another(
    org, officers, django_capture_on_commit_callbacks
):
    first, _ = _withheld_erasure(
        org,
        officers,
        django_capture_on_commit_callbacks,
        identifiers=[("email", SUBJECT_EMAIL), ("phone", PHONE), ("name", NAME)],
    )
    with pytest.raises(FieldRefused) as refused:
        _finish(first, officers, ("email", SUBJECT_EMAIL), ("name", "J. Roe"))
    message = str(refused.value)
    assert refused.value.field == "phone"
    assert "also named 1 phone number and 1 name not given here" in message
    assert (
        f"give the subject's phone number and name as they were given for {first.reference}"
        in message
    )
    assert "The name given here is not the one it named." in message
    assert NAME not in message and "7946" not in message and SUBJECT_EMAIL not in message


def test_the_kept_account_gives_its_email_and_name_but_not_a_name_it_no_longer_has(
    org, officers, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    make_conversation(org.alice, org.internal)
    hold = services.place_hold(actor=officers[0], reason="Litigation 21", user=org.alice)
    named = [("email", org.alice.email), ("name", org.alice.full_name)]
    first = run(receive(officers, identifiers=named, subject_user=org.alice), officers, capture)
    release(hold, asked_by=officers[1], confirmed_by=officers[0])
    org.alice.full_name = "Alice Durand"
    org.alice.save(update_fields=["full_name"])

    with pytest.raises(FieldRefused, match="1 name not given here") as refused:
        _finish(first, officers)
    assert refused.value.field == "name"
    follow_up = _finish(first, officers, ("name", "Alice Martin"))
    assert ("name", "Alice Martin") in follow_up.identifiers()
    assert ("email", org.alice.email) in follow_up.identifiers()


def test_without_the_kinds_on_record_it_counts_what_is_missing_and_asks_for_each(org, officers):
    """An erasure whose receipt event is not in the trail (pruned, or recorded before kinds
    were): the kinds of what is missing are not known, their number is."""
    kept = make_conversation(org.carol, org.internal, texts=(f"Mail {SUBJECT_EMAIL}",))
    mention(kept, "EMAIL_ADDRESS", SUBJECT_EMAIL)
    first = SubjectRequest.objects.create(
        reference="DSR-2026-0900",
        kind=SubjectRequest.Kind.ERASURE,
        regime=SubjectRequest.Regime.GDPR,
        status=SubjectRequest.Status.COMPLETED,
        received_on=timezone.localdate(),
        due_on=timezone.localdate(),
        completed_at=timezone.now(),
        digests=[digest_of("email", SUBJECT_EMAIL), digest_of("name", NAME)],
        receipt={"counts": {"withheld_conversations": 1}},
    )
    with pytest.raises(FieldRefused) as refused:
        _finish(first, officers, ("phone", PHONE))
    assert refused.value.field == "__all__"
    assert str(refused.value) == (
        "The original erasure also named 2 identifiers not given here: give every identifier "
        "it named as it was given for DSR-2026-0900."
    )
    assert _finish(first, officers, ("email", SUBJECT_EMAIL), ("name", NAME)).digests


# --- the clock -------------------------------------------------------------------------------


def test_a_hold_released_before_the_first_is_due_leaves_the_follow_up_due_by_then(
    org, officers, django_capture_on_commit_callbacks
):
    received_on = timezone.localdate() - dt.timedelta(days=10)
    first, _ = _withheld_erasure(
        org,
        officers,
        django_capture_on_commit_callbacks,
        identifiers=[("email", SUBJECT_EMAIL)],
        received_on=received_on,
    )
    follow_up = _finish(first, officers, ("email", SUBJECT_EMAIL))
    assert follow_up.due_on == first.due_on == policy.due_on(policy.GDPR, received_on)
    assert follow_up.received_on == timezone.localdate()
    assert f"Finishes {first.reference}, received on {received_on.day} " in follow_up.note
    event = AuditEvent.objects.filter(action=AuditEvent.Action.DSR_RECEIVED).latest("sequence")
    assert event.details["due_on"] == first.due_on.isoformat()


def test_once_the_first_is_past_due_the_follow_up_is_due_as_if_received_today(
    org, officers, django_capture_on_commit_callbacks
):
    first, _ = _withheld_erasure(
        org,
        officers,
        django_capture_on_commit_callbacks,
        identifiers=[("email", SUBJECT_EMAIL)],
        received_on=timezone.localdate() - dt.timedelta(days=45),
    )
    assert first.due_on < timezone.localdate()
    follow_up = _finish(first, officers, ("email", SUBJECT_EMAIL))
    assert follow_up.due_on == policy.due_on(policy.GDPR, timezone.localdate())


def test_a_first_extended_beyond_a_new_clock_does_not_stretch_the_follow_up(
    org, officers, django_capture_on_commit_callbacks
):
    first, _ = _withheld_erasure(
        org,
        officers,
        django_capture_on_commit_callbacks,
        identifiers=[("email", SUBJECT_EMAIL)],
        received_on=timezone.localdate() - dt.timedelta(days=3),
    )
    extended = policy.extended_due_on(policy.GDPR, first.received_on)
    SubjectRequest.objects.filter(pk=first.pk).update(due_on=extended, extended=True)
    first.refresh_from_db()
    follow_up = _finish(first, officers, ("email", SUBJECT_EMAIL))
    assert follow_up.due_on == policy.due_on(policy.GDPR, timezone.localdate()) < extended
