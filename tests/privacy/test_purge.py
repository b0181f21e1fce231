"""The retention purge: exactly what is expired goes, nothing held does, a killed run finishes."""

import datetime as dt

import pytest
from django.db import connection  # noqa: F401  (read by the skipif conditions)
from django.utils import timezone

from audit.models import AuditEvent
from chat import streams
from chat.models import Conversation, Message, SubjectMention
from privacy import purge, services
from privacy.models import LegalHold, PurgeRun
from tests.privacy.conftest import (
    make_conversation,
    mention,
    release,
    while_first_is_slow_to_commit,
)


@pytest.fixture
def aged(org, officers):
    """Conversations either side of each window (internal 30 days, confidential 7 days)."""
    officer = officers[0]
    c = {
        "internal_old": make_conversation(org.alice, org.internal, days_idle=31),
        "internal_new": make_conversation(org.alice, org.internal, days_idle=29),
        "confidential_old": make_conversation(org.carol, org.confidential, days_idle=8),
        "confidential_new": make_conversation(org.carol, org.confidential, days_idle=6),
        "held_conversation": make_conversation(org.alice, org.internal, days_idle=100),
        "held_person": make_conversation(org.carol, org.internal, days_idle=100),
    }
    mention(c["internal_old"], "EMAIL_ADDRESS", "jane@example.org")
    services.place_hold(actor=officer, reason="Case 7", conversation=c["held_conversation"])
    services.place_hold(actor=officer, reason="Case 8", user=org.carol)
    return c


def _left():
    return set(Conversation.objects.values_list("pk", flat=True))


def test_it_previews_without_removing(aged, org):
    expired = purge.preview()
    assert expired.counts == {
        org.internal.name: {"conversations": 1, "messages": 2},
    }  # carol's confidential_old is held through her person hold
    assert expired.held == 3
    assert len(_left()) == 6


def test_it_purges_exactly_what_is_expired_and_nothing_held(aged, org):
    run = purge.run(purge.start())
    assert run.status == PurgeRun.Status.DONE
    assert run.counts == {org.internal.name: {"conversations": 1, "messages": 2}}
    gone = aged["internal_old"].pk
    assert gone not in _left()
    assert _left() == {c.pk for name, c in aged.items() if name != "internal_old"}
    assert not Message.objects.filter(conversation_id=gone).exists()
    assert not SubjectMention.objects.filter(conversation_id=gone).exists()
    event = AuditEvent.objects.filter(action=AuditEvent.Action.RETENTION_PURGED).get()
    assert event.details["conversations"] == 1 and event.details["messages"] == 2


def test_it_purges_a_persons_conversations_once_their_hold_is_released(aged, org, officers):
    hold = LegalHold.objects.get(user=org.carol)
    release(hold, asked_by=officers[0], confirmed_by=officers[1], reason="Case closed")
    purge.run(purge.start())
    assert aged["confidential_old"].pk not in _left()
    assert aged["held_person"].pk not in _left()
    assert aged["confidential_new"].pk in _left()


def test_it_refuses_a_second_run_while_one_is_alive(aged):
    purge.start()
    with pytest.raises(purge.PurgeBusy):
        purge.start()


def test_a_run_killed_mid_batch_is_finished_by_the_next(org, monkeypatch):
    for _ in range(5):
        make_conversation(org.alice, org.internal, days_idle=40)
    real_beat = purge._beat
    calls = []

    def killed_after_two_batches(*args):
        calls.append(1)
        if len(calls) == 3:  # in the third, before it commits (with its counts)
            raise KeyboardInterrupt  # like SIGKILL: no except clause runs
        real_beat(*args)

    monkeypatch.setattr(purge, "_beat", killed_after_two_batches)
    first = purge.start()
    with pytest.raises(KeyboardInterrupt):
        purge.run(first, batch_size=2)
    assert Conversation.objects.count() == 1
    monkeypatch.setattr(purge, "_beat", real_beat)

    PurgeRun.objects.filter(pk=first.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(seconds=purge.STALE_AFTER_SECONDS + 1)
    )
    second = purge.run(purge.start(), batch_size=2)
    first.refresh_from_db()
    assert first.status == PurgeRun.Status.INTERRUPTED
    assert second.status == PurgeRun.Status.DONE and second.done_conversations == 1
    assert Conversation.objects.count() == 0
    assert Message.objects.count() == 0


def test_a_run_past_its_time_limit_stops_between_batches_and_the_next_goes_on(org):
    """Its own limit, checked between batches: a threads pool has no Celery time limits."""
    for _ in range(5):
        make_conversation(org.alice, org.internal, days_idle=40)
    first = purge.run(purge.start(), batch_size=2, limit_seconds=0)
    assert first.status == PurgeRun.Status.FAILED and first.done_conversations == 2
    assert "PurgeTooLong: stopped after 0 s" in first.errors[0]
    assert Conversation.objects.count() == 3
    second = purge.run(purge.start(), batch_size=2)
    assert second.status == PurgeRun.Status.DONE and Conversation.objects.count() == 0


def test_it_never_deletes_a_conversation_that_became_active_meanwhile(org):
    conversation = make_conversation(org.alice, org.internal, days_idle=40)
    ids = [conversation.pk]
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=timezone.now())
    assert purge._delete_batch(ids, org.internal, timezone.now()) == (0, 0)
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_it_knows_every_table_pointing_at_conversations_and_messages():
    """shred() deletes with raw SQL: a new table pointing here must be added to it."""
    from django.apps import apps

    pointing = {
        (field.model._meta.db_table, field.column)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model in (Conversation, Message)
    }
    assert pointing <= {
        ("chat_subjectmention", "conversation_id"),
        ("chat_subjectmention", "message_id"),
        ("chat_message", "conversation_id"),
        ("chat_message", "reply_to_id"),
        ("privacy_legalhold", "conversation_id"),
    }, pointing


def test_the_owner_cannot_delete_a_conversation_held_through_them(org, officers):
    from chat import services as chat

    conversation = make_conversation(org.alice, org.internal)
    services.place_hold(actor=officers[0], reason="Case 3", user=org.alice)
    with pytest.raises(chat.ChatError, match="kept by the privacy team"):
        chat.delete_conversation(conversation=conversation, actor=org.alice)


def _before_the_deletions_event(monkeypatch, happening) -> None:
    """``happening()`` comes between a deletion's start and its audit event (another
    request, just before the deletion takes the audit chain's lock)."""
    from chat.services import conversations

    record = conversations.record

    def first_happening(**event):
        happening()
        return record(**event)

    monkeypatch.setattr(conversations, "record", first_happening)


@pytest.mark.parametrize("scope", ["conversation", "user"])
def test_a_hold_placed_while_a_deletion_starts_keeps_the_conversation(
    org, officers, monkeypatch, scope
):
    """The hold is looked for once the deletion holds the audit chain's lock, which placing
    a hold takes too: one placed after the deletion began, before its event, is seen."""
    from chat import services as chat

    conversation = make_conversation(org.alice, org.internal)
    target = {"conversation": conversation} if scope == "conversation" else {"user": org.alice}
    _before_the_deletions_event(
        monkeypatch, lambda: services.place_hold(actor=officers[0], reason="Case 4", **target)
    )
    with pytest.raises(chat.ChatError, match="kept by the privacy team"):
        chat.delete_conversation(conversation=conversation, actor=org.alice)
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_DELETED).exists()


def test_a_conversation_deleted_meanwhile_is_not_deleted_twice(org, monkeypatch):
    """A second click: the first deletion went through while this one started."""
    from chat import services as chat

    conversation = make_conversation(org.alice, org.internal)
    _before_the_deletions_event(
        monkeypatch, lambda: Conversation.objects.filter(pk=conversation.pk).delete()
    )
    with pytest.raises(chat.ChatError, match="already deleted"):
        chat.delete_conversation(conversation=conversation, actor=org.alice)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CHAT_DELETED).exists()


def test_the_purge_command_dry_runs_and_runs(aged, org, capsys):
    from django.core.management import call_command

    call_command("purge", "--dry-run")
    out = capsys.readouterr().out
    assert "Internal: 1 conversation, 2 messages would be removed" in out
    assert "total: 1 conversation, 2 messages; 3 expired but held" in out
    assert aged["internal_old"].pk in _left()
    call_command("purge")
    assert "removed 1 conversation and 2 messages" in capsys.readouterr().out
    assert aged["internal_old"].pk not in _left()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_a_hold_on_a_person_being_placed_while_a_purge_batch_runs_keeps_their_conversations(
    org, officers, monkeypatch
):
    """A person's hold touches none of their conversations' rows, so a purge batch's row
    locks cannot see it coming: placing a hold and a batch's deletion take one lock
    (exclusive and shared), and a batch that starts while a hold is being placed waits
    for it, then sees it."""
    conversation = make_conversation(org.carol, org.internal, days_idle=100)
    outcomes = while_first_is_slow_to_commit(
        monkeypatch,
        lambda: services.place_hold(actor=officers[0], reason="Case 9", user=org.carol),
        lambda: purge.shred(purge.expired_conversations(org.internal), skip_locked=True),
    )
    assert outcomes == {"first": "done", "then": "done"}
    assert Conversation.objects.filter(pk=conversation.pk).exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["delete", "rename"])
def test_an_owner_acting_while_a_hold_is_being_placed_waits_for_it_and_is_refused(
    org, officers, monkeypatch, action
):
    """The hold's transaction locks the conversation's row, then the audit chain; the
    owner's took the chain, then wanted the row: a deadlock, one of the two aborted. Both
    now take the holds lock first, so the owner's waits for the hold, then sees it."""
    from chat import services as chat

    conversation = make_conversation(org.alice, org.internal)
    acts = {
        "delete": lambda: chat.delete_conversation(conversation=conversation, actor=org.alice),
        "rename": lambda: chat.rename_conversation(
            conversation=conversation, actor=org.alice, title="New"
        ),
    }
    outcomes = while_first_is_slow_to_commit(
        monkeypatch,
        lambda: services.place_hold(actor=officers[0], reason="Case 9", conversation=conversation),
        acts[action],
    )
    assert outcomes["first"] == "done"
    refused = outcomes["then"]
    assert isinstance(refused, chat.ChatError) and "kept by the privacy team" in str(refused)
    kept = Conversation.objects.get(pk=conversation.pk)
    assert kept.legal_hold and kept.title == "Hello"


def test_shredding_a_conversation_stops_its_answer_on_the_way(
    org, django_capture_on_commit_callbacks
):
    """A purge (or an erasure) deletes a conversation whose answer streams: its worker is
    asked to stop, and what it streamed goes with the conversation."""
    conversation = make_conversation(org.alice, org.internal, days_idle=100)
    answer = conversation.messages.get(role=Message.Role.ASSISTANT)
    Message.objects.filter(pk=answer.pk).update(status=Message.Status.STREAMING, attempt=1)
    streams.begin_answer(answer.public_id, 1, alive_ttl_seconds=30)
    streams.AnswerWriter(answer.public_id).chunk("Half an answer")
    with django_capture_on_commit_callbacks(execute=True):
        assert purge.shred(Conversation.objects.filter(pk=conversation.pk)) == (1, 2)
    assert streams.text_of(answer.public_id) == ""
    assert streams.poll(answer.public_id) == (True, None)  # its worker stops at its next look
    streams.forget(answer.public_id)
