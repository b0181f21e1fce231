"""Rows and their events written together (audit.writes.Writes)."""

import pytest
from django.db import DatabaseError, connection  # noqa: F401  (the skipif conditions)

from audit import chain
from audit.models import AuditEvent
from audit.services import iter_chain_rows, record
from audit.writes import Writes
from chat.models import Conversation, Message, SubjectMention
from governance.models import User
from tests.factories import make_category, make_user


def _conversation(owner) -> Conversation:
    conversation = Conversation(owner=owner, category=make_category())
    conversation.init_key()
    return conversation


def _a_turn(owner, *, event_actor=None) -> tuple:
    """A new conversation's first turn, its rows and events gathered in a Writes."""
    conversation = _conversation(owner)
    conversation.title = "Quarterly figures"
    message = Message(
        conversation=conversation, role=Message.Role.USER, status=Message.Status.SENT,
        category_number=1, findings={"EMAIL": 1},
    )  # fmt: skip
    message.content = "Hello"
    answer = Message(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.PENDING,
        reply_to=message, category_number=1,
    )  # fmt: skip
    mention = SubjectMention(
        digest="d" * 32, kind="EMAIL", conversation=conversation, message=message
    )
    writes = Writes()
    with writes.recording():
        writes.insert(conversation)
        record(action=AuditEvent.Action.CHAT_STARTED, actor=owner, target=conversation)
        writes.insert(message)
        writes.insert(answer)
        writes.insert(mention)
        record(
            action=AuditEvent.Action.CHAT_REQUEST,
            actor=event_actor or owner,
            target=conversation,
            details={"n": 2},
        )
    assert AuditEvent.objects.count() == 0  # held for write()
    return (conversation, message, answer, mention, writes.events), writes


def _write_a_turn(owner, **options) -> tuple:
    turn, writes = _a_turn(owner, **options)
    writes.write()
    return turn


def _check_turn(conversation, message, answer, mention, events):
    assert conversation.pk and message.pk and answer.pk and mention.pk
    assert (message.conversation_id, answer.conversation_id) == (conversation.pk,) * 2
    assert answer.reply_to_id == message.pk and mention.message_id == message.pk
    stored = Message.objects.get(pk=message.pk)
    assert stored.content == "Hello" and stored.findings == {"EMAIL": 1}
    assert Conversation.objects.get(pk=conversation.pk).title == "Quarterly figures"
    assert Message.objects.get(pk=answer.pk).reply_to_id == message.pk
    assert [e.sequence for e in events] == [1, 2]
    assert events[1].prev_hash == events[0].hash
    assert chain.verify(iter_chain_rows()).intact


def test_rows_pointing_at_each_other_and_their_events_are_written(db):
    _check_turn(*_write_a_turn(make_user("o@example.com")))


def test_written_rows_keep_the_objects_they_point_at(db, django_assert_num_queries):
    conversation, message, answer, mention, _ = _write_a_turn(make_user("o@example.com"))
    with django_assert_num_queries(0):
        assert answer.conversation is conversation and answer.reply_to is message
        assert mention.message is message and message.conversation.owner.email


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_they_are_one_statement(django_assert_num_queries):
    turn, writes = _a_turn(make_user("o@example.com"))
    with django_assert_num_queries(1):  # no BEGIN or COMMIT: one statement is atomic
        writes.write()
    _check_turn(*turn)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_they_are_written_whole():
    _check_turn(*_write_a_turn(make_user("o@example.com")))


@pytest.mark.django_db(transaction=True)
def test_when_an_event_cannot_be_appended_no_row_is_written():
    owner = make_user("o@example.com")
    with pytest.raises(DatabaseError):
        # An actor that does not exist: the event's foreign key fails, at the end.
        _write_a_turn(owner, event_actor=User(pk=10**9, email="ghost@example.com"))
    assert not Conversation.objects.exists()
    assert not Message.objects.exists() and not SubjectMention.objects.exists()
    assert not AuditEvent.objects.exists()


def test_an_update_sets_only_the_fields_named(db):
    owner = make_user("o@example.com")
    conversation = _conversation(owner)
    conversation.save()
    other = Conversation.objects.get(pk=conversation.pk)
    other.legal_hold = True
    other.save()  # a change the update must not undo
    conversation.title = "New title"
    writes = Writes()
    writes.update(conversation, ["title_sealed"])
    writes.write()
    fresh = Conversation.objects.get(pk=conversation.pk)
    assert fresh.title == "New title" and fresh.legal_hold is True
