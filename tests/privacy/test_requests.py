"""Data-subject requests: intake to receipt, through the index, with four eyes."""

import io
import json
import re
import zipfile

import pytest
from django.apps import apps
from django.db import connection

from audit.models import AuditEvent
from chat import services as chat
from chat.models import Conversation, Message, SubjectMention
from privacy import archive, execution, services
from privacy.models import SubjectRequest
from privacy.services import PrivacyError
from tests.privacy.conftest import reject

EMAIL = "jane.roe@example.org"
PHONE = "+44 20 7946 0958"


def _send(capture, conversation, author, text):
    with capture(execute=True):
        return chat.send_message(conversation=conversation, author=author, text=text)


@pytest.fixture
def mentioned(org, django_capture_on_commit_callbacks):
    """Jane is mentioned by Alice (internal, pseudonymised) and Carol (confidential, local)."""
    alice = chat.start_conversation(owner=org.alice, category=org.internal)
    _send(
        django_capture_on_commit_callbacks,
        alice,
        org.alice,
        f"Draft a reply to {EMAIL} about the refund.",
    )
    _send(django_capture_on_commit_callbacks, alice, org.alice, "Make it shorter.")
    carol = chat.start_conversation(owner=org.carol, category=org.confidential)
    _send(
        django_capture_on_commit_callbacks,
        carol,
        org.carol,
        f"Summarise the complaint of JANE.ROE@example.org, tel {PHONE}.",
    )
    other = chat.start_conversation(owner=org.alice, category=org.internal)
    _send(django_capture_on_commit_callbacks, other, org.alice, "Write to bob@example.net please.")
    return {"alice": alice, "carol": carol, "other": other}


def _run(request, officers, capture):
    first, second = officers
    request = services.verify_identity(
        request=request, actor=first, method="Replied from the address on file"
    )
    request = services.scope_request(request=request, actor=first)
    with capture(execute=True):
        request = services.approve_request(request=request, actor=second)
    return SubjectRequest.objects.get(pk=request.pk)


def _receive(officers, kind=SubjectRequest.Kind.ERASURE, **overrides):
    import datetime as dt

    values = {
        "actor": officers[0],
        "kind": kind,
        "regime": SubjectRequest.Regime.GDPR,
        "received_on": dt.date.today(),
        "identifiers": [("email", EMAIL)],
    }
    values.update(overrides)
    return services.receive_request(**values)


def test_it_scopes_through_the_index(mentioned, officers, org):
    request = _receive(officers)
    request = services.verify_identity(request=request, actor=officers[0], method="Called back")
    request = services.scope_request(request=request, actor=officers[0])
    assert request.scope["mentions"] == {"messages": 2, "conversations": 2, "owners": 2}
    recipients = {r["backend"]: r for r in request.scope["recipients"]}
    assert recipients["OpenAI business API"]["calls"] == 2  # the mention, then the history
    assert recipients["OpenAI business API"]["in_clear"] == 0
    assert recipients["Local Ollama"]["hosting_class"] == "on_prem"


def test_the_index_is_keyed_by_its_own_key_so_secret_key_can_rotate(mentioned, officers, settings):
    """The index was keyed by SECRET_KEY: rotating it left every indexed person unfound."""
    settings.STEWARD_SUBJECT_INDEX_KEY = settings.SECRET_KEY
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY
    request = services.verify_identity(request=_receive(officers), actor=officers[0], method="ID")
    request = services.scope_request(request=request, actor=officers[0])
    assert request.scope["mentions"]["messages"] == 2


def test_a_scope_under_another_index_key_is_refused_not_empty(mentioned, officers, settings):
    """Under another key the index found nobody, and the request went on to "nothing to
    erase". The key the index was written with is kept as a fingerprint."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from chat import index_key

    request = services.verify_identity(request=_receive(officers), actor=officers[0], method="ID")
    assert index_key.settle() is None  # stamped by migrate (and after a test's flush)
    call_command("check", "--database", "default")
    settings.STEWARD_SUBJECT_INDEX_KEY = "another key"
    with pytest.raises(services.PrivacyError, match="written with another key"):
        services.scope_request(request=request, actor=officers[0])
    assert SubjectRequest.objects.get(pk=request.pk).status == SubjectRequest.Status.VERIFIED
    with pytest.raises(SystemCheckError, match="steward.E101"):
        call_command("check", "--database", "default")
    call_command("check")  # without the database: nothing to say

    settings.STEWARD_SUBJECT_INDEX_KEY = settings.SECRET_KEY
    assert index_key.settle() is None
    request = services.scope_request(request=request, actor=officers[0])
    assert request.scope["mentions"]["messages"] == 2


def test_under_another_index_key_no_request_is_recorded_and_the_command_says_why(
    mentioned, officers, settings, capsys
):
    """Its hashes were taken under the wrong key: once the key was mended, it still found
    nobody. ``subject_index_key --stamp`` is the way out when the stamp itself is wrong."""
    from django.core.management import CommandError, call_command

    from audit.models import AuditEvent
    from chat import index_key

    assert index_key.settle() is None
    settings.STEWARD_SUBJECT_INDEX_KEY = "another key"
    with pytest.raises(services.PrivacyError, match="written with another key"):
        _receive(officers)
    assert not SubjectRequest.objects.exists()
    with pytest.raises(CommandError, match="subject_index_key --stamp"):
        call_command("subject_index_key")

    call_command("subject_index_key", "--stamp")
    assert "is the subject index's key from now on" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action=AuditEvent.Action.INDEX_KEY_STAMPED).exists()
    call_command("subject_index_key")
    assert "read with the key it was written with" in capsys.readouterr().out
    _receive(officers)


def test_migrate_stamps_the_key_the_index_was_written_with(db):
    import importlib

    from django.apps import apps

    from chat import index_key
    from chat.models import SubjectIndexKey

    SubjectIndexKey.objects.all().delete()
    importlib.import_module("chat.migrations.0009_subject_index_key").stamp_the_key_of_today(
        apps, None
    )
    assert SubjectIndexKey.objects.get().fingerprint == index_key.fingerprint()


def test_an_empty_index_takes_todays_key(officers, db, settings):
    from chat import index_key
    from chat.models import SubjectIndexKey

    settings.STEWARD_SUBJECT_INDEX_KEY = "a key chosen before anything was indexed"
    request = services.verify_identity(request=_receive(officers), actor=officers[0], method="ID")
    services.scope_request(request=request, actor=officers[0])
    assert SubjectIndexKey.objects.get().fingerprint == index_key.fingerprint()


def test_the_recipients_are_counted_alike_when_the_trail_is_read_a_call_at_a_time(
    mentioned, org, monkeypatch
):
    """Who received the subject's data is read from the audit trail in chunks: one call per
    chunk gives the same table as all at once, calls and calls in clear alike."""
    from privacy import scope

    digests = [scope.digest_of("email", EMAIL)]
    whole = scope.recipients(digests=digests, subject_user_id=org.alice.pk)
    monkeypatch.setattr(scope, "EVENT_CHUNK", 1)
    assert scope.recipients(digests=digests, subject_user_id=org.alice.pk) == whole
    by_backend = {entry["backend"]: entry for entry in whole}
    # Alice's own conversations are hers, all of them in clear (3 calls), the one whose
    # address went pseudonymised too.
    assert by_backend["OpenAI business API"]["calls"] == 3
    assert by_backend["OpenAI business API"]["in_clear"] == 3


def test_the_scoper_cannot_approve(mentioned, officers):
    request = _receive(officers)
    request = services.verify_identity(request=request, actor=officers[0], method="Called back")
    request = services.scope_request(request=request, actor=officers[0])
    with pytest.raises(PrivacyError, match="Someone other"):
        services.approve_request(request=request, actor=officers[0])
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.SCOPED


def test_approval_needs_a_scope(officers, db, org):
    request = services.verify_identity(
        request=_receive(officers), actor=officers[0], method="Seen ID"
    )
    with pytest.raises(PrivacyError):
        services.approve_request(request=request, actor=officers[1])


def test_erasure_leaves_no_readable_trace(
    mentioned, officers, org, django_capture_on_commit_callbacks
):
    request = _run(_receive(officers), officers, django_capture_on_commit_callbacks)
    assert request.status == SubjectRequest.Status.COMPLETED
    assert request.receipt["counts"]["redacted_conversations"] == 2
    assert len(request.receipt_hash) == 64
    assert not SubjectMention.objects.filter(digest__in=request.digests).exists()

    # Nothing readable in any table, the audit trail included...
    needles = ("jane.roe", "JANE.ROE", "7946")
    for table, dump in _dumps():
        assert not any(n in dump for n in ("jane.roe", "JANE.ROE")), table
    # ...nor once every remaining conversation is decrypted.
    for conversation in Conversation.objects.all():
        texts = [conversation.title, json.dumps(conversation.pseudonyms())]
        for message in conversation.messages.exclude(content_sealed=b""):
            texts += [message.content, message.sent_text]
        assert not any(n.lower() in t.lower() for t in texts for n in needles[:1]), texts
    carol_texts = [m.content for m in mentioned["carol"].messages.all() if m.content_sealed]
    assert "[erased]" in carol_texts[0]
    assert "bob@example.net" in mentioned["other"].messages.first().content  # others untouched


def test_the_restored_answer_shows_erased_for_a_placeholder(
    mentioned, officers, django_capture_on_commit_callbacks
):
    conversation = Conversation.objects.get(pk=mentioned["alice"].pk)
    placeholder = next(iter(conversation.pseudonyms()["values"]))
    _run(_receive(officers), officers, django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(pk=mentioned["alice"].pk)
    assert conversation.pseudonyms()["values"][placeholder] == "[erased]"


def _dumps():
    """Every table's rows as one string each (sealed columns stay sealed)."""
    for model in apps.get_models():
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            yield table, repr(cursor.fetchall())


def test_erasure_of_a_staff_member_shreds_their_conversations_and_account(
    mentioned, officers, org, django_capture_on_commit_callbacks
):
    email, name = org.alice.email, org.alice.full_name
    request = _receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = _run(request, officers, django_capture_on_commit_callbacks)
    assert request.receipt["counts"]["own_conversations"] == 2
    assert request.receipt["counts"]["account"] is True
    assert not Conversation.objects.filter(owner=org.alice).exists()
    org.alice.refresh_from_db()
    assert not org.alice.is_active and org.alice.email.endswith("@erased.invalid")
    assert Conversation.objects.filter(owner=org.carol).exists()
    # The audit trail keeps who did what as it was recorded (append-only, a legal
    # record); every other table has forgotten her.
    for table, dump in _dumps():
        if table != "audit_auditevent":
            assert email not in dump and name not in dump, table


def test_a_held_conversation_is_withheld_from_erasure(
    mentioned, officers, django_capture_on_commit_callbacks
):
    services.place_hold(actor=officers[0], reason="Litigation 12", conversation=mentioned["carol"])
    request = _run(_receive(officers), officers, django_capture_on_commit_callbacks)
    assert request.receipt["counts"]["withheld_conversations"] == 1
    assert EMAIL.split("@")[0] in mentioned["carol"].messages.first().content.lower()


def test_a_person_under_a_legal_hold_keeps_what_they_own_through_their_erasure(
    mentioned, officers, org, django_capture_on_commit_callbacks
):
    """A hold on a person keeps their conversations and their account (who they are is
    part of what the hold keeps) until it is released; the receipt says so."""
    services.place_hold(actor=officers[0], reason="Litigation 13", user=org.alice)
    request = _receive(officers, identifiers=[("email", org.alice.email)], subject_user=org.alice)
    request = services.scope_request(
        request=services.verify_identity(request=request, actor=officers[0], method="In person"),
        actor=officers[0],
    )
    assert request.scope["held_conversations"] == 2 and request.scope["subject_held"] is True
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_request(request=request, actor=officers[1])
    request.refresh_from_db()
    counts = request.receipt["counts"]
    assert counts["own_conversations"] == 0 and counts["withheld_conversations"] == 2
    assert counts["account"] is False and counts["account_withheld"] is True
    assert Conversation.objects.filter(owner=org.alice).count() == 2
    org.alice.refresh_from_db()
    assert org.alice.is_active and not org.alice.email.endswith("@erased.invalid")


def test_a_conversation_whose_owner_is_held_is_withheld_from_someone_elses_erasure(
    mentioned, officers, org, django_capture_on_commit_callbacks
):
    services.place_hold(actor=officers[0], reason="Litigation 14", user=org.carol)
    request = _run(_receive(officers), officers, django_capture_on_commit_callbacks)
    assert request.receipt["counts"]["withheld_conversations"] == 1
    assert EMAIL.split("@")[0] in mentioned["carol"].messages.first().content.lower()
    assert "jane.roe" not in mentioned["alice"].messages.first().content.lower()  # not held


def test_a_hold_placed_while_an_erasure_runs_keeps_what_it_holds(
    mentioned, officers, org, django_capture_on_commit_callbacks, monkeypatch
):
    """The held conversations were read once, before the first was redacted: one whose
    owner was put under a hold meanwhile was redacted all the same."""
    from privacy import erasure
    from privacy.models import LegalHold

    redact = erasure._redact_conversation

    def a_hold_on_carol_after_the_first(conversation, *args):
        changed = redact(conversation, *args)
        if not LegalHold.objects.exists():
            services.place_hold(actor=officers[0], reason="Litigation 15", user=org.carol)
        return changed

    monkeypatch.setattr(erasure, "_redact_conversation", a_hold_on_carol_after_the_first)
    request = _run(_receive(officers), officers, django_capture_on_commit_callbacks)
    counts = request.receipt["counts"]
    assert counts["redacted_conversations"] == 1 and counts["withheld_conversations"] == 1
    assert EMAIL.split("@")[0] in mentioned["carol"].messages.first().content.lower()
    assert "jane.roe" not in mentioned["alice"].messages.first().content.lower()


def test_an_account_under_a_hold_placed_after_its_erasure_was_scoped_is_kept(org, officers):
    """The account's erasure looks for a hold itself, under the holds lock: one placed since
    the request's last look keeps the account."""
    from privacy import erasure

    services.place_hold(actor=officers[0], reason="Litigation 16", user=org.alice)
    assert erasure.erase_account(org.alice) is False
    org.alice.refresh_from_db()
    assert org.alice.is_active and not org.alice.email.endswith("@erased.invalid")


def test_access_builds_an_archive(mentioned, officers, org, django_capture_on_commit_callbacks):
    request = _receive(
        officers,
        kind=SubjectRequest.Kind.ACCESS,
        identifiers=[("email", org.alice.email)],
        subject_user=org.alice,
    )
    request = _run(request, officers, django_capture_on_commit_callbacks)
    assert request.status == SubjectRequest.Status.COMPLETED
    with zipfile.ZipFile(io.BytesIO(archive.open_archive(request))) as bundle:
        data = json.loads(bundle.read("data.json"))
        summary = bundle.read("summary.html").decode()
    assert data["account"]["email"] == org.alice.email
    assert len(data["conversations"]) == 2
    assert any(EMAIL in m["text"] for c in data["conversations"] for m in c["messages"])
    assert "Your conversations (2)" in summary
    assert Conversation.objects.filter(owner=org.alice).count() == 2  # access deletes nothing


def test_an_outside_persons_copy_says_who_received_it_how_long_it_is_kept_and_their_rights(
    mentioned, officers, settings, django_capture_on_commit_callbacks
):
    """GDPR Art. 15(1)–(2): beside the data, the copy names who answers for it, its purposes,
    its source, its recipients, its retention and the person's rights, in words and dates a
    person reads."""
    settings.STEWARD_PRIVACY_CONTACT = "Example Ltd, Data Protection Officer, dpo@example.com"
    request = _run(
        _receive(officers, kind=SubjectRequest.Kind.ACCESS),
        officers,
        django_capture_on_commit_callbacks,
    )
    with zipfile.ZipFile(io.BytesIO(archive.open_archive(request))) as bundle:
        about = json.loads(bundle.read("data.json"))["about"]
        summary = bundle.read("summary.html").decode()
    assert about["contact"] == "Example Ltd, Data Protection Officer, dpo@example.com"
    assert {r["backend"] for r in about["recipients"]} == {"OpenAI business API", "Local Ollama"}
    assert all(r["calls"] >= 1 and r["provider_keeps"] for r in about["recipients"])
    assert any(
        "days after the conversation's last message" in r["kept"] for r in about["retention"]
    )
    for words in (
        "About this copy",
        "dpo@example.com",
        "OpenAI business API",
        "supervisory authority",
        "People at the organisation wrote these messages",  # not her colleagues
        "Who received it",
        "found by Email address",
    ):
        assert words in summary, words
    # Nobody's account: no conversations of theirs, nor messages they wrote.
    assert "Your conversations" not in summary and "You wrote" not in summary
    prepared = summary.split("prepared ")[1].split(".")[0]
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC", prepared), prepared


def test_the_trail_names_the_request_never_the_identifier(
    mentioned, officers, django_capture_on_commit_callbacks
):
    request = _run(_receive(officers), officers, django_capture_on_commit_callbacks)
    events = AuditEvent.objects.filter(
        target_type="privacy.subjectrequest", target_id=str(request.public_id)
    )
    actions = list(events.order_by("sequence").values_list("action", flat=True))
    assert actions == ["dsr.received", "dsr.verified", "dsr.scoped", "dsr.approved", "dsr.executed"]
    assert all(e.target_repr == request.reference for e in events)
    assert request.identifiers() == []  # dropped on completion; digests remain for the receipt
    # Whom the request had to reach, readable from the trail alone: backends and counts.
    executed = events.get(action="dsr.executed").details
    assert {r["backend"] for r in executed["recipients"]} == {"OpenAI business API", "Local Ollama"}
    assert EMAIL not in str(executed)


def test_the_officers_note_goes_with_the_identifiers_when_a_request_closes(
    officers, db, django_capture_on_commit_callbacks
):
    """An intake note often names the person ("Jane Roe phoned from +44…"): it is dropped
    when the request completes or is rejected, as the identifiers are."""
    note = f"Jane Roe phoned; she also wrote from {EMAIL}."
    completed = _run(_receive(officers, note=note), officers, django_capture_on_commit_callbacks)
    rejected = reject(_receive(officers, note=note), officers, "unverified", "Not verifiable.")
    for request in (completed, rejected):
        request.refresh_from_db()
        assert request.note == "" and request.identifiers() == []


def test_the_receipt_says_how_the_identity_was_verified_and_that_it_was_extended(
    officers, db, org, django_capture_on_commit_callbacks
):
    """A receipt due three months after receipt says why: the original due date and the
    reason given, and how and by whom the requester's identity was checked."""
    from privacy import policy

    request = _receive(officers)
    original_due = request.due_on
    services.extend_request(request=request, actor=officers[0], reason="Complex: 40 systems")
    request = _run(request, officers, django_capture_on_commit_callbacks)
    receipt = request.receipt
    assert receipt["due_on"] == policy.extended_due_on(policy.GDPR, request.received_on).isoformat()
    assert receipt["extended"] == {
        "original_due_on": original_due.isoformat(),
        "reason": "Complex: 40 systems",
    }
    assert receipt["identity"] == {
        "verified_by": officers[0].display_name,
        "method": "Replied from the address on file",
    }
    assert request.receipt_hash == services.receipt_hash(receipt)


def test_the_receipt_of_a_request_from_the_account_page_says_the_subject_signed_in(
    org, officers, django_capture_on_commit_callbacks
):
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)
    request = services.scope_request(request=request, actor=officers[0])
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_request(request=request, actor=officers[1])
    request.refresh_from_db()
    assert request.receipt["identity"]["verified_by"] is None
    assert request.receipt["identity"]["method"] == "Signed in to their own account."
    assert "extended" not in request.receipt


def test_an_extension_happens_once_with_a_reason(officers, db, org):
    request = _receive(officers)
    with pytest.raises(PrivacyError):
        services.extend_request(request=request, actor=officers[0], reason=" ")
    before = request.due_on
    request = services.extend_request(request=request, actor=officers[0], reason="Complex request")
    assert request.due_on > before
    with pytest.raises(PrivacyError, match="already been extended"):
        services.extend_request(request=request, actor=officers[0], reason="Again")


def test_staff_can_ask_for_their_own_data_once_at_a_time(org):
    request = services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)
    assert request.status == SubjectRequest.Status.VERIFIED and request.subject_user == org.alice
    with pytest.raises(PrivacyError, match="already have an open request"):
        services.request_own_data(user=org.alice, kind=SubjectRequest.Kind.ACCESS)


def test_a_second_delivery_of_the_execution_does_nothing(
    mentioned, officers, django_capture_on_commit_callbacks
):
    request = _run(_receive(officers), officers, django_capture_on_commit_callbacks)
    assert execution.execute(request.pk) is False
    assert Message.objects.exists()


def test_master_key_rotation_reseals_identifiers_and_archives(officers, db, org, settings):
    import secrets

    from django.core.management import call_command

    request = _receive(officers)
    request.archive_sealed = archive.seal(request, b"zip bytes")
    request.save()
    old, new = settings.STEWARD_MASTER_KEY, secrets.token_urlsafe(32)
    settings.STEWARD_MASTER_KEY = f"{new},{old}"
    call_command("rotate_master_key")
    settings.STEWARD_MASTER_KEY = new  # the old key is gone
    request.refresh_from_db()
    assert request.identifiers() == [("email", EMAIL)]
    assert archive.open_archive(request) == b"zip bytes"
