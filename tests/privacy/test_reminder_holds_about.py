"""A hold's release waiting for a second officer is reminded every day, but not to the officer
the hold is about: they may not confirm it, and the desk hides its details from them. The
reminder left out of their mail only a proposed rejection of a request about them; it named
the hold on their own conversations to them as to everyone. Now they get the other lines in
a mail of their own, or no mail when nothing is left."""

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import Category
from governance.roles import Role
from privacy import reminders, services
from privacy.models import LegalHold, SubjectRequest
from tests.factories import make_category, make_user
from tests.privacy.conftest import make_conversation

pytestmark = pytest.mark.django_db

HOW = ["person", "conversation"]


def _hold_on(officers, owner, how: str) -> LegalHold:
    """A hold on ``owner`` (or one of their conversations), placed by the first officer, whose
    release she asked two days ago: it waits for a second officer."""
    priya = officers[0]
    if how == "person":
        held = {"user": owner}
    else:
        category = Category.objects.first() or make_category()
        held = {"conversation": make_conversation(owner, category)}
    hold = services.place_hold(actor=priya, reason="Case 31", **held)
    services.ask_release(hold=hold, actor=priya, reason="Case 31 settled")
    LegalHold.objects.filter(pk=hold.pk).update(
        release_asked_at=timezone.now() - dt.timedelta(days=2)
    )
    return hold


def _due_today(reference: str) -> SubjectRequest:
    today = timezone.localdate()
    return SubjectRequest.objects.create(
        reference=reference,
        kind=SubjectRequest.Kind.ERASURE,
        regime=SubjectRequest.Regime.GDPR,
        received_on=today - dt.timedelta(days=30),
        due_on=today,
    )


@pytest.mark.parametrize("how", HOW)
def test_the_officer_a_hold_is_about_gets_no_mail_of_it_alone(officers, how):
    priya, omar = officers
    hold = _hold_on(officers, omar, how)
    assert reminders.send() == 1
    (email,) = mail.outbox
    assert email.to == [priya.email]
    assert "waiting 2 days" in email.body and "1 legal hold to confirm" in email.subject
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REMINDED)
    assert event.details["holds"] == [str(hold.public_id)]
    assert event.details["recipients"] == 1


@pytest.mark.parametrize("how", HOW)
def test_the_officer_a_hold_is_about_reads_the_rest_without_it(officers, how):
    priya, omar = officers
    _hold_on(officers, omar, how)
    _due_today("DSR-A")
    assert reminders.send() == 2
    mails = {tuple(sent.to): sent for sent in mail.outbox}
    assert sorted(mails) == [(omar.email,), (priya.email,)]
    his, hers = mails[(omar.email,)], mails[(priya.email,)]
    assert "DSR-A" in his.body and "DSR-A" in hers.body
    assert "legal hold" not in (his.subject + his.body).lower()
    assert his.subject == "Steward: 1 data-subject request due soon"
    assert "a hold on" in hers.body and "1 legal hold to confirm" in hers.subject


def test_an_officer_it_is_not_about_reads_every_hold(officers):
    """Two holds, one on each officer's content (asked by a third): each officer reads the
    other's, in a mail of their own."""
    priya, omar = officers
    tess = make_user("tess@corp.example", Role.PRIVACY_OFFICER, full_name="Tess")
    on_priya = services.place_hold(actor=omar, reason="Case 7", user=priya)
    on_omar = services.place_hold(actor=tess, reason="Case 8", user=omar)
    for hold in (on_priya, on_omar):
        services.ask_release(hold=hold, actor=tess, reason="Settled")
    LegalHold.objects.update(release_asked_at=timezone.now() - dt.timedelta(days=1))
    assert reminders.send() == 2
    subjects = {sent.to[0]: sent.subject for sent in mail.outbox}
    assert subjects == {
        priya.email: "Steward: 1 legal hold to confirm",
        omar.email: "Steward: 1 legal hold to confirm",
        tess.email: "Steward: 2 legal holds to confirm",
    }


def test_whom_a_conversation_hold_is_about_is_read_with_the_holds(officers):
    """The reminder asks of each hold whom it is about, for each officer: the conversation's
    owner comes with the hold, not in a query of its own."""
    alice = make_user("alice@corp.example", Role.STAFF, full_name="Alice")

    def queries() -> int:
        LegalHold.objects.update(release_reminded_on=None)
        with CaptureQueriesContext(connection) as asked:
            assert reminders.send() == LegalHold.objects.count()
        return len(asked)

    _hold_on(officers, alice, "conversation")
    queries()  # what a process reads once (when the records of notices began)
    one = queries()
    for _ in range(3):
        _hold_on(officers, alice, "conversation")
    assert queries() == one
