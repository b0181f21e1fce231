"""The rules around a request: reminders that count once sent, extensions in time, what the
trail keeps of a rejection, one self-service request at a time, and erasures a legal hold
kept from finishing."""

import datetime as dt
import smtplib
import threading

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from chat.models import Conversation
from privacy import reminders, services
from privacy.models import SubjectRequest
from privacy.services import LeftBehind, PrivacyError
from tests.privacy.conftest import (
    SUBJECT_EMAIL,
    make_conversation,
    mention,
    receive,
    reject,
    release,
    run,
)

EMAIL = SUBJECT_EMAIL
S = SubjectRequest.Status


# --- reminders -----------------------------------------------------------------------------


class MailServerDown(BaseEmailBackend):
    """Refuses every mail, quoting an address as SMTP servers do."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPRecipientsRefused({"priya@corp.example": (550, b"mailbox busy")})


class ProviderDown(BaseEmailBackend):
    """A mail service's own library: its own exception, not OSError."""

    def send_messages(self, email_messages):
        raise RuntimeError("provider refused priya@corp.example")


def test_a_reminder_a_mail_provider_refuses_in_its_own_words_waits_for_the_next_run(
    officers, settings, caplog
):
    SubjectRequest.objects.create(
        reference="DSR-2026-0098",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        received_on=timezone.localdate() - dt.timedelta(days=40),
        due_on=timezone.localdate() - dt.timedelta(days=3),
    )
    settings.EMAIL_BACKEND = f"{__name__}.ProviderDown"
    assert reminders.send() == 0
    assert "RuntimeError" in caplog.text and "priya@corp.example" not in caplog.text
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_REMINDED).exists()


def test_a_reminder_counts_only_once_the_mail_is_accepted(officers, settings, caplog):
    """A failed mail marks nothing and audits nothing, is logged without an address, and the
    next run sends it."""
    today = timezone.localdate()
    request = SubjectRequest.objects.create(
        reference="DSR-2026-0099",
        kind=SubjectRequest.Kind.ERASURE,
        regime=SubjectRequest.Regime.GDPR,
        received_on=today - dt.timedelta(days=40),
        due_on=today - dt.timedelta(days=3),
    )
    settings.EMAIL_BACKEND = f"{__name__}.MailServerDown"
    assert reminders.send() == 0
    request.refresh_from_db()
    assert request.reminded_on is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_REMINDED).exists()
    assert "SMTPRecipientsRefused" in caplog.text
    assert not any(officer.email in caplog.text for officer in officers)

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert reminders.send() == 1
    assert len(mail.outbox) == 1 and "DSR-2026-0099" in mail.outbox[0].body
    request.refresh_from_db()
    assert request.reminded_on == today
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DSR_REMINDED).count() == 1


def test_a_reminder_with_no_privacy_officer_to_tell_is_not_counted_as_sent(db, caplog):
    """Nobody holds the role (or all are deactivated): the reminder is logged as unsent and
    the next run tries again, rather than recorded as sent to nobody."""
    request = SubjectRequest.objects.create(
        reference="DSR-2026-0097",
        kind=SubjectRequest.Kind.ERASURE,
        regime=SubjectRequest.Regime.GDPR,
        received_on=timezone.localdate() - dt.timedelta(days=30),
        due_on=timezone.localdate(),
    )
    assert reminders.send() == 0
    assert "no active privacy officer" in caplog.text
    request.refresh_from_db()
    assert request.reminded_on is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_REMINDED).exists()


# --- a privacy officer's own request ------------------------------------------------------


def test_an_officer_neither_scopes_approves_nor_rejects_a_request_about_themselves(officers):
    """As they may not release their own archive: someone else handles it."""
    priya, omar = officers
    request = services.request_own_data(user=priya, kind=SubjectRequest.Kind.ERASURE)
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.scope_request(request=request, actor=priya)
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.propose_rejection(
            request=request, actor=priya, ground="no_data", reason="Not needed"
        )
    request = services.scope_request(request=request, actor=omar)
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.approve_request(request=request, actor=priya)
    request.refresh_from_db()
    assert request.status == S.SCOPED


def test_an_officer_neither_verifies_nor_extends_a_request_about_themselves(officers):
    """Recorded by a colleague, a request about an officer is handled by the others at every
    step: the page offers them none, and a direct POST or the REST API is refused too."""
    priya, omar = officers
    request = receive(officers, actor=omar, subject_user=priya)
    assert request.subject_user_id == priya.pk
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.verify_identity(request=request, actor=priya, method="Knows her own name")
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.extend_request(request=request, actor=priya, reason="Busy")
    request.refresh_from_db()
    assert request.status == S.RECEIVED and not request.extended
    services.verify_identity(request=request, actor=omar, method="Video call")


def test_an_officer_does_not_handle_a_request_about_their_own_email_recorded_as_an_outsiders(
    officers,
):
    """Recorded without ticking "staff member" (no account linked), a request that names an
    officer's own email is still about them: else they could scope it and read what
    colleagues wrote about them in its archive, which waits for another officer's check."""
    priya, omar = officers
    request = receive(officers, actor=priya, identifiers=[("email", " PRIYA@corp.example ")])
    assert request.subject_user_id is None
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.verify_identity(request=request, actor=priya, method="It's me")
    request = services.verify_identity(request=request, actor=omar, method="Called back")
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.scope_request(request=request, actor=priya)
    request = services.scope_request(request=request, actor=omar)
    with pytest.raises(PrivacyError, match="This request is about you"):
        services.approve_request(request=request, actor=priya)
    client = Client()
    client.force_login(priya)
    page = client.get(reverse("privacy:request", args=[request.public_id]))
    assert "This request is about you: another privacy officer handles it." in page.text
    assert "request_approve" not in page.text and "/approve/" not in page.text


def test_an_officer_does_not_download_an_unreleased_archive_about_their_own_email(officers):
    from privacy import archive

    priya, omar = officers
    request = receive(
        officers,
        actor=omar,
        kind=SubjectRequest.Kind.ACCESS,
        identifiers=[("email", "priya@corp.example")],
    )
    SubjectRequest.objects.filter(pk=request.pk).update(archive_sealed=b"sealed")
    request.refresh_from_db()
    assert "mention you" in archive.download_refusal(request, priya)
    assert archive.download_refusal(request, omar) is None
    with pytest.raises(PrivacyError, match="other than the person"):
        archive.release(request=request, actor=priya)


def test_an_officer_does_not_run_again_a_failed_request_about_themselves(
    officers, django_capture_on_commit_callbacks
):
    """ "Run again" is a step like the others: someone else takes it."""
    capture = django_capture_on_commit_callbacks
    from governance.roles import Role
    from privacy import execution
    from tests.factories import make_user

    priya, omar = officers
    third = make_user("tara@corp.example", Role.PRIVACY_OFFICER)
    request = services.request_own_data(user=priya, kind=SubjectRequest.Kind.ERASURE)
    request = services.scope_request(request=request, actor=omar)
    with capture(execute=False):
        services.approve_request(request=request, actor=third)
    SubjectRequest.objects.filter(pk=request.pk).update(status=S.FAILED, error="Lost")
    with pytest.raises(PrivacyError, match="This request is about you"):
        execution.retry(request=request, actor=priya)
    assert SubjectRequest.objects.get(pk=request.pk).status == S.FAILED
    with capture(execute=False):
        assert execution.retry(request=request, actor=omar).status == S.APPROVED


# --- extensions ----------------------------------------------------------------------------


def test_an_overdue_request_cannot_be_extended(officers, db):
    """GDPR Art. 12(3), CCPA: the requester is told of an extension within the original
    period; once it has passed, the request is answered, not extended."""
    request = receive(officers, received_on=timezone.localdate() - dt.timedelta(days=75))
    with pytest.raises(PrivacyError, match="deadline passed"):
        services.extend_request(request=request, actor=officers[0], reason="Busy")
    request.refresh_from_db()
    assert not request.extended and request.extension_reason == ""
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_EXTENDED).exists()


def test_a_request_can_be_extended_on_its_due_day(officers, db):
    request = receive(officers)
    SubjectRequest.objects.filter(pk=request.pk).update(due_on=timezone.localdate())
    request = services.extend_request(request=request, actor=officers[0], reason="Complex")
    assert request.extended and request.due_on > timezone.localdate()


# --- rejections ----------------------------------------------------------------------------


def test_the_rejection_reason_stays_on_the_request_and_out_of_the_trail(officers, db):
    """The reason is written to the requester and names them: the append-only trail, which
    no erasure reaches, keeps only its length."""
    reason = f"Jane Roe ({EMAIL}) could not prove she owns this address."
    request = reject(receive(officers), officers, ground="unverified", reason=reason)
    assert request.rejected_reason == reason
    details = AuditEvent.objects.get(action=AuditEvent.Action.DSR_REJECTED).details
    assert EMAIL not in str(details) and "Jane Roe" not in str(details)
    assert details["reason_chars"] == len(reason)


def test_a_hold_release_reason_stays_on_the_hold_and_out_of_the_trail(officers, org):
    """A release reason may name the person ("Jane Roe settled her claim"): as with a
    rejection, the trail keeps its length only."""
    hold = services.place_hold(actor=officers[0], reason="Case 12", user=org.alice)
    reason = "Jane Roe settled her refund claim."
    release(hold, asked_by=officers[0], confirmed_by=officers[1], reason=reason)
    hold.refresh_from_db()
    assert hold.release_reason == reason
    details = AuditEvent.objects.get(action=AuditEvent.Action.HOLD_RELEASED).details
    assert "Jane" not in str(details) and details["reason_chars"] == len(reason)


# --- requests from the account page ----------------------------------------------------------


def test_a_refused_second_request_leaves_nothing_behind(org):
    services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ERASURE)
    with pytest.raises(PrivacyError, match="already have an open request"):
        services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ERASURE)
    assert SubjectRequest.objects.filter(subject_user=org.alice).count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DSR_RECEIVED).count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_double_submit_makes_one_request(transactional_db, org):
    """The second of two submits waits for the first's lock on the user, then sees its
    request (not a second open request beside it). SQLite runs one writer at a time."""
    outcome = {}

    def second_submit() -> None:
        try:
            services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)
            outcome["second"] = "created"
        except PrivacyError as exc:
            outcome["second"] = str(exc)
        finally:
            connection.close()

    with transaction.atomic():
        services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)
        second = threading.Thread(target=second_submit)
        second.start()
        _wait_for_a_lock_wait()
    second.join(10)
    assert "already have an open request" in outcome["second"]
    assert SubjectRequest.objects.filter(subject_user=org.alice).count() == 1


def _wait_for_a_lock_wait() -> None:
    """Until another connection waits for a lock this one holds (at most 5 s)."""
    with connection.cursor() as cursor:
        for _ in range(100):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            threading.Event().wait(0.05)


# --- erasures a legal hold kept from finishing --------------------------------------------------


def test_an_erasure_kept_from_finishing_by_a_hold_is_finished_once_it_is_released(
    org, officers, django_capture_on_commit_callbacks
):
    """Held, Alice keeps her account and conversations through her erasure. Released, the
    erasure is listed as left unfinished and a follow-up (four eyes) erases the rest."""
    capture = django_capture_on_commit_callbacks
    make_conversation(org.alice, org.internal)
    make_conversation(org.alice, org.internal)
    hold = services.place_hold(actor=officers[0], reason="Litigation 21", user=org.alice)
    request = receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = run(request, officers, capture)
    assert request.receipt["counts"]["account_withheld"] is True

    assert services.erasures_to_finish() == []
    assert services.left_behind(request) == LeftBehind(held_conversations=2, account_held=True)
    with pytest.raises(PrivacyError, match="still under a legal hold"):
        services.finish_erasure(request=request, actor=officers[0])

    release(hold, asked_by=officers[1], confirmed_by=officers[0])
    released = AuditEvent.objects.get(action=AuditEvent.Action.HOLD_RELEASED)
    assert released.details["erasures_to_finish"] == [request.reference]
    left = LeftBehind(free_conversations=2, account_free=True)
    assert services.erasures_to_finish() == [(request, left)]

    follow_up = services.finish_erasure(request=request, actor=officers[0])
    assert follow_up.status == S.VERIFIED and follow_up.subject_user == org.alice
    assert set(request.digests) <= set(follow_up.digests)
    received = AuditEvent.objects.filter(action=AuditEvent.Action.DSR_RECEIVED).latest("sequence")
    assert received.details["follows"] == request.reference
    assert services.left_behind(request).finishing == follow_up.reference
    with pytest.raises(PrivacyError, match="already erases"):
        services.finish_erasure(request=request, actor=officers[1])

    follow_up = run(follow_up, officers, capture)
    assert follow_up.receipt["counts"]["own_conversations"] == 2
    org.alice.refresh_from_db()
    assert not org.alice.is_active and not Conversation.objects.filter(owner=org.alice).exists()
    request.refresh_from_db()
    assert services.left_behind(request) is None and services.erasures_to_finish() == []


def test_finishing_an_outside_subjects_erasure_needs_their_identifiers_again(
    org, officers, django_capture_on_commit_callbacks
):
    """The identifiers typed for the first request were dropped when it closed; its keyed
    hashes still find the conversation it withheld."""
    capture = django_capture_on_commit_callbacks
    carol = make_conversation(org.carol, org.confidential, texts=(f"Complaint of {EMAIL}", "Ok"))
    mention(carol, "EMAIL_ADDRESS", EMAIL)
    hold = services.place_hold(actor=officers[0], reason="Audit 3", conversation=carol)
    request = run(receive(officers), officers, capture)
    assert request.receipt["counts"]["withheld_conversations"] == 1
    release(hold, asked_by=officers[0], confirmed_by=officers[1], reason="Closed")
    assert services.erasures_to_finish() == [(request, LeftBehind(free_conversations=1))]

    with pytest.raises(PrivacyError, match="give the subject's email address"):
        services.finish_erasure(request=request, actor=officers[0])
    follow_up = services.finish_erasure(
        request=request, actor=officers[0], identifiers=[("email", EMAIL)]
    )
    follow_up = run(follow_up, officers, capture)
    assert follow_up.receipt["counts"]["redacted_conversations"] == 1
    assert EMAIL not in carol.messages.first().content
    assert services.erasures_to_finish() == []


def test_an_account_kept_under_a_hold_is_listed_once_the_hold_is_released(
    org, officers, django_capture_on_commit_callbacks
):
    """Nothing but the account was withheld (Carol owns no conversation)."""
    hold = services.place_hold(actor=officers[0], reason="Litigation 22", user=org.carol)
    request = receive(officers, identifiers=[("email", org.carol.email)], subject_user=org.carol)
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert request.receipt["counts"]["withheld_conversations"] == 0
    assert services.erasures_to_finish() == []
    release(hold, asked_by=officers[1], confirmed_by=officers[0], reason="Dropped")
    assert services.erasures_to_finish() == [(request, LeftBehind(account_free=True))]
