"""Telling the requester: receipt, extension and outcome, each recorded once with how and
when, owed with a last day; a self-filed request is told on the person's own page."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from privacy import notices, services
from privacy.models import RequesterNotice, SubjectRequest
from tests.privacy.conftest import make_conversation, receive, reject, run

Topic = RequesterNotice.Topic
Channel = RequesterNotice.Channel
TODAY = timezone.localdate


def _told(request) -> list[tuple[str, str]]:
    return list(request.notices.values_list("topic", "channel"))


def _owed(request) -> list[str]:
    request = SubjectRequest.objects.get(pk=request.pk)
    told = set(request.notices.values_list("topic", flat=True))
    return [o.topic for o in notices.owed(request, told)]


def test_an_officer_records_how_and_when_the_requester_was_told(officers):
    request = receive(officers, regime=SubjectRequest.Regime.CCPA)
    assert _owed(request) == ["receipt"]
    notice = notices.record_notice(
        request=request,
        actor=officers[1],
        topic=Topic.RECEIPT,
        channel=Channel.EMAIL,
        told_on=TODAY(),
    )
    assert _told(request) == [("receipt", "email")] and _owed(request) == []
    assert notice.recorded_by == officers[1] and not notice.late
    event = AuditEvent.objects.filter(action=AuditEvent.Action.DSR_TOLD).get()
    assert event.actor == officers[1] and event.target_id == str(request.public_id)
    assert event.details == {
        "kind": "erasure",
        "regime": "ccpa",
        "topic": "receipt",
        "channel": "email",
        "told_on": TODAY().isoformat(),
        "due_on": request.notice_due_on("receipt").isoformat(),
        "late": False,
    }


def test_a_ccpa_receipt_told_after_ten_business_days_is_recorded_as_late(officers):
    received = TODAY() - dt.timedelta(days=20)
    request = receive(officers, regime=SubjectRequest.Regime.CCPA, received_on=received)
    notice = notices.record_notice(
        request=request,
        actor=officers[0],
        topic=Topic.RECEIPT,
        channel=Channel.LETTER,
        told_on=TODAY(),
    )
    assert notice.late
    assert AuditEvent.objects.get(action=AuditEvent.Action.DSR_TOLD).details["late"] is True


@pytest.mark.parametrize(
    ("topic", "channel", "told_on", "refusal"),
    [
        ("extension", "email", 0, "was not extended"),
        ("outcome", "email", 0, "has no outcome yet"),
        ("receipt", "email", 1, "cannot be in the future"),
        ("receipt", "email", -3, "before the request was received"),
        ("receipt", "steward", 0, "choose how you told them"),  # Steward's own record
    ],
)
def test_what_was_not_owed_or_could_not_have_happened_is_refused(
    officers, topic, channel, told_on, refusal
):
    request = receive(officers, received_on=TODAY() - dt.timedelta(days=2))
    with pytest.raises(services.PrivacyError, match=refusal):
        notices.record_notice(
            request=request,
            actor=officers[0],
            topic=topic,
            channel=channel,
            told_on=TODAY() + dt.timedelta(days=told_on),
        )
    assert not request.notices.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DSR_TOLD).exists()


def test_a_notice_is_recorded_once_and_the_second_says_when_the_first_was(officers):
    request = receive(officers)
    record = dict(request=request, actor=officers[0], topic=Topic.RECEIPT, told_on=TODAY())
    notices.record_notice(channel=Channel.PHONE, **record)
    with pytest.raises(services.PrivacyError, match="already recorded: Phone call,"):
        notices.record_notice(channel=Channel.EMAIL, **record)
    assert _told(request) == [("receipt", "phone")]


def test_the_person_a_request_is_about_records_nothing_on_it(officers):
    request = receive(officers, subject_user=officers[1])
    with pytest.raises(services.PrivacyError, match="This request is about you"):
        notices.record_notice(
            request=request,
            actor=officers[1],
            topic=Topic.RECEIPT,
            channel=Channel.EMAIL,
            told_on=TODAY(),
        )


def test_an_extension_is_owed_until_told_and_is_due_within_the_first_period(officers):
    request = receive(officers)
    first_due = request.due_on
    request = services.extend_request(request=request, actor=officers[0], reason="Many systems")
    assert _owed(request) == ["receipt", "extension"]
    assert request.notice_due_on("extension") == first_due < request.due_on
    assert _told(request) == []  # an officer's intake: nobody was told by Steward


def test_the_outcome_is_owed_once_the_request_closes(officers):
    request = receive(officers)
    reject(request, officers, ground="no_data", reason="Not a customer of ours")
    assert _owed(request) == ["receipt", "outcome"]


def test_a_self_filed_request_is_told_on_the_persons_page_as_it_goes(
    org, officers, django_capture_on_commit_callbacks
):
    """Filed from their own page, where they follow it: receipt at once, the extension and
    its reason, and a copy they can download."""
    make_conversation(org.alice, org.internal)
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)
    assert _told(request) == [("receipt", "steward")]
    request = services.extend_request(request=request, actor=officers[0], reason="Busy month")
    assert _told(request) == [("receipt", "steward"), ("extension", "steward")]
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert request.status == SubjectRequest.Status.COMPLETED
    assert _told(request)[-1] == ("outcome", "steward") and _owed(request) == []
    events = AuditEvent.objects.filter(action=AuditEvent.Action.DSR_TOLD)
    assert [e.details["topic"] for e in events.order_by("sequence")] == [
        "receipt",
        "extension",
        "outcome",
    ]
    assert {e.actor_label for e in events} == {"system"}


def test_a_self_filed_erasure_is_not_told_in_steward_the_account_is_gone(
    org, officers, django_capture_on_commit_callbacks
):
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ERASURE)
    request = run(request, officers, django_capture_on_commit_callbacks)
    assert request.status == SubjectRequest.Status.COMPLETED
    assert _owed(request) == ["outcome"]


# --- the request page -------------------------------------------------------------------


def _page(client, request) -> str:
    return client.get(f"/privacy/requests/{request.public_id}/").content.decode()


def test_the_request_page_lists_what_is_owed_and_records_it(client, officers):
    received = TODAY() - dt.timedelta(days=20)
    request = receive(officers, regime=SubjectRequest.Regime.CCPA, received_on=received)
    client.force_login(officers[1])
    page = _page(client, request)
    acknowledge_by = request.notice_due_on("receipt")
    assert "Telling the requester" in page
    assert f'due-overdue">was due {acknowledge_by.day} {acknowledge_by:%b %Y}' in page
    assert '<option value="receipt">The request was received</option>' in page
    assert 'value="steward"' not in page  # officers say how they told them

    response = client.post(
        f"/privacy/requests/{request.public_id}/told/",
        {"topic": "receipt", "channel": "letter", "told_on": TODAY().isoformat()},
        follow=True,
    )
    page = response.content.decode()
    assert "Recorded: told by letter on" in page
    assert "told " + f"{TODAY().day} {TODAY():%b %Y}" in page and 'badge-warn">late' in page
    assert "tell_topic" not in page  # nothing more owed: no form


def test_a_bad_notice_is_shown_with_the_form_and_nothing_is_recorded(client, officers):
    request = receive(officers)
    client.force_login(officers[0])
    response = client.post(
        f"/privacy/requests/{request.public_id}/told/",
        {"topic": "outcome", "channel": "email", "told_on": "someday"},
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Select a valid choice." not in page  # the topic: the service says why
    assert "Enter a valid date." in page
    assert not request.notices.exists()


def test_only_privacy_officers_record_notices(client, org, officers):
    request = receive(officers, subject_user=org.alice)
    client.force_login(org.alice)
    assert "Telling the requester" not in _page(client, request)
    response = client.post(
        f"/privacy/requests/{request.public_id}/told/",
        {"topic": "receipt", "channel": "email", "told_on": TODAY().isoformat()},
    )
    assert response.status_code == 403 and not request.notices.exists()


def test_the_desk_says_what_each_requester_must_still_be_told(client, officers):
    late = receive(
        officers,
        regime=SubjectRequest.Regime.CCPA,
        received_on=TODAY() - dt.timedelta(days=20),
        identifiers=[("email", "late@example.org")],
    )
    told = receive(officers, identifiers=[("email", "told@example.org")])
    notices.record_notice(
        request=told, actor=officers[0], topic=Topic.RECEIPT, channel=Channel.EMAIL, told_on=TODAY()
    )
    rejected = receive(officers, identifiers=[("email", "gone@example.org")])
    reject(rejected, officers, ground="no_data", reason="Not ours")
    client.force_login(officers[1])
    page = client.get("/privacy/").content.decode()
    acknowledge_by = late.notice_due_on("receipt")
    rows = {
        request.reference: page[page.index(request.reference) :].split("</tr>")[0]
        for request in (late, told, rejected)
    }
    assert (
        '<span class="cell-note due-overdue">Tell them: the request was received '
        f"(was due {acknowledge_by.day} {acknowledge_by:%b})</span>"
    ) in rows[late.reference]
    assert "Tell them" not in rows[told.reference]
    assert "Tell them: the request was received</span>" in rows[rejected.reference]
    assert "Tell them: the outcome (by " in rows[rejected.reference]


def test_a_notice_that_is_not_owed_is_refused_in_words_on_the_page(client, officers):
    request = receive(officers)
    client.force_login(officers[0])
    response = client.post(
        f"/privacy/requests/{request.public_id}/told/",
        {"topic": "outcome", "channel": "email", "told_on": TODAY().isoformat()},
        follow=True,
    )
    assert "The request has no outcome yet: tell the requester once it is completed" in (
        response.content.decode()
    )
    assert not request.notices.exists()


def test_records_begin_when_the_notices_migration_was_applied(db):
    since = notices.recorded_since()
    assert since is not None and since <= timezone.now()


def test_a_request_closed_before_steward_recorded_notices_is_asked_nothing(
    client, officers, reader, monkeypatch
):
    """Upgrading listed every request closed before the upgrade as owing its outcome, in red on
    the desk and in the compliance report: nobody could have recorded it then."""
    from audit.reports import Period, summarise

    old = receive(officers)
    reject(old, officers, ground="no_data", reason="Not a customer of ours")
    monkeypatch.setattr(notices, "recorded_since", lambda: timezone.now())
    assert _owed(old) == []
    client.force_login(officers[1])
    page = client.get(f"/privacy/requests/{old.public_id}/").content.decode()
    assert "what this request owed before then is not asked here" in page
    assert f"/privacy/requests/{old.public_id}/told/" not in page
    assert "Tell them" not in client.get("/privacy/").content.decode()
    summary = summarise(Period(TODAY(), TODAY()))
    assert summary.subject_requests_outcome_untold == []
    assert summary.subject_requests_closed_before_records == 1
    client.force_login(reader)
    report = client.get("/audit/report/").content.decode()
    assert "1 closed before Steward recorded what requesters were told" in report
    assert "no record that the requester was told the outcome" not in report
    client.force_login(officers[1])

    monkeypatch.setattr(notices, "recorded_since", lambda: old.created_at)
    assert _owed(old) == ["receipt", "outcome"]
    untold = summarise(Period(TODAY(), TODAY())).subject_requests_outcome_untold
    assert [r["reference"] for r in untold] == [old.reference]
    page = client.get(f"/privacy/requests/{old.public_id}/").content.decode()
    assert "owed before then" not in page


def test_nobody_is_told_of_an_extension_or_outcome_before_it_happened(officers):
    """The day told decides "late": a day before the thing happened made a late telling
    look on time."""
    received = TODAY() - dt.timedelta(days=20)
    request = receive(officers, received_on=received)
    request = services.extend_request(request=request, actor=officers[0], reason="Many systems")
    with pytest.raises(services.PrivacyError, match="before it was extended"):
        notices.record_notice(request=request, actor=officers[0], topic=Topic.EXTENSION,
                              channel=Channel.EMAIL, told_on=received)  # fmt: skip
    reject(request, officers, ground="no_data", reason="Not a customer of ours")
    with pytest.raises(services.PrivacyError, match="before it was decided"):
        notices.record_notice(request=request, actor=officers[0], topic=Topic.OUTCOME,
                              channel=Channel.LETTER, told_on=received)  # fmt: skip
    assert not request.notices.exists()
    notices.record_notice(request=request, actor=officers[0], topic=Topic.OUTCOME,
                          channel=Channel.LETTER, told_on=TODAY())  # fmt: skip


def test_an_open_request_recorded_before_the_record_began_owes_no_receipt(officers, monkeypatch):
    """Its receipt was owed before anyone could record it: the reminder mailed about it
    every day."""
    from privacy import reminders

    old = receive(officers, regime=SubjectRequest.Regime.CCPA,
                  received_on=TODAY() - dt.timedelta(days=20))  # fmt: skip
    since = timezone.now()
    monkeypatch.setattr(notices, "recorded_since", lambda: since)
    assert _owed(old) == []
    assert reminders.due_for_reminder(TODAY()) == []  # 25 days left: not a reminder day
    old = services.extend_request(request=old, actor=officers[0], reason="Many systems")
    assert _owed(old) == ["extension"]  # extended since: owed, and recorded


def test_records_are_looked_for_again_when_the_migration_was_not_there_yet(db, monkeypatch):
    """A process that asked before ``migrate`` kept "no record began" until restarted."""
    from django.db.migrations.recorder import MigrationRecorder

    monkeypatch.setattr(notices, "_applied", {})
    row = MigrationRecorder.Migration.objects.filter(app="privacy", name="0005_requester_notice")
    row.update(name="not yet")
    assert notices.recorded_since() is None
    MigrationRecorder.Migration.objects.filter(app="privacy", name="not yet").update(
        name="0005_requester_notice"
    )
    assert notices.recorded_since() is not None


def test_an_earlier_extension_takes_its_moment_from_the_trail(officers):
    """Requests extended before ``extended_at`` existed get it from their dsr.extended event."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("privacy.migrations.0007_request_extended_at")
    request = services.extend_request(request=receive(officers), actor=officers[0], reason="Many")
    SubjectRequest.objects.filter(pk=request.pk).update(extended_at=None)
    unextended = receive(officers, identifiers=[("email", "x@example.org")])
    migration.extended_when_the_trail_says(apps, None)
    event = AuditEvent.objects.get(action=AuditEvent.Action.DSR_EXTENDED)
    assert SubjectRequest.objects.get(pk=request.pk).extended_at == event.occurred_at
    assert SubjectRequest.objects.get(pk=unextended.pk).extended_at is None


def test_a_request_counts_the_business_days_of_the_calendar_set(officers, settings):
    """STEWARD_HOLIDAYS=US-CA: Thanksgiving and the day after are not business days."""
    request = receive(officers, regime=SubjectRequest.Regime.CCPA,
                      received_on=dt.date(2026, 11, 18))  # fmt: skip
    assert request.notice_due_on(Topic.RECEIPT) == dt.date(2026, 12, 2)
    settings.STEWARD_HOLIDAYS = "US-CA"
    assert request.notice_due_on(Topic.RECEIPT) == dt.date(2026, 12, 4)
