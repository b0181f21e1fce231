"""Per-conversation keys: text sealed with them, the keys wrapped by the master key."""

import secrets

import pytest
from django.core.management import call_command

from chat.models import Conversation, Message
from chat.sealing import UnreadableError
from governance import crypto
from tests.factories import make_backend, make_category


def _key() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def conversation(db, member):
    conversation = Conversation(owner=member, category=make_category())
    conversation.init_key()
    conversation.title = "Quarterly plan"
    conversation.save()
    return conversation


def _message(conversation, text: str) -> Message:
    message = Message(conversation=conversation, role="user", status="sent", category_number=1)
    message.content = text
    message.save()
    return message


def test_it_seals_text_with_the_conversations_own_key(conversation):
    message = _message(conversation, "the plan")
    assert b"the plan" not in bytes(message.content_sealed)
    fresh = Message.objects.select_related("conversation").get(pk=message.pk)
    assert fresh.content == "the plan" and fresh.conversation.title == "Quarterly plan"


def test_text_moved_to_another_message_does_not_open(conversation):
    first, second = _message(conversation, "one"), _message(conversation, "two")
    Message.objects.filter(pk=second.pk).update(content_sealed=first.content_sealed)
    moved = Message.objects.select_related("conversation").get(pk=second.pk)
    with pytest.raises(UnreadableError):
        moved.content


def test_without_its_key_a_conversation_is_unreadable(conversation):
    message = _message(conversation, "gone for good")
    sealed = bytes(message.content_sealed)
    other = Conversation(owner=conversation.owner, category=conversation.category)
    other.init_key()  # any other key, as after the real one was deleted
    with pytest.raises(UnreadableError):
        other.key.open_text(sealed, f"message-content:{message.public_id}")


def test_rotation_rewraps_keys_and_credentials_and_leaves_messages_alone(conversation, settings):
    old, new = settings.STEWARD_MASTER_KEY, _key()
    message = _message(conversation, "kept through the rotation")
    sealed_text = bytes(message.content_sealed)
    backend = make_backend(name="Vendor")
    backend.seal_credential("sk-secret")
    backend.save()
    settings.STEWARD_MASTER_KEY = f"{new},{old}"
    call_command("rotate_master_key")
    settings.STEWARD_MASTER_KEY = new  # the old key is gone
    fresh = Message.objects.select_related("conversation").get(pk=message.pk)
    assert fresh.content == "kept through the rotation"
    assert bytes(fresh.content_sealed) == sealed_text  # not re-encrypted
    backend.refresh_from_db()
    assert backend.open_credential() == "sk-secret"
    assert crypto.sealed_with_current_key(bytes(fresh.conversation.data_key_wrapped))


def test_rotation_can_run_again_and_finds_nothing_to_do(conversation, settings, capsys):
    settings.STEWARD_MASTER_KEY = f"{_key()},{settings.STEWARD_MASTER_KEY}"
    call_command("rotate_master_key")
    call_command("rotate_master_key", "--dry-run")
    assert "conversation keys: 0 to re-seal" in capsys.readouterr().out


def test_rotation_without_the_old_key_changes_nothing_and_says_what_to_do(conversation, settings):
    """The old key left out: the dry run said "2 to re-seal" and the real run died with a
    traceback half-way. Both refuse before changing anything, and say how to list the keys."""
    from django.core.management.base import CommandError

    before = bytes(Conversation.objects.get(pk=conversation.pk).data_key_wrapped)
    settings.STEWARD_MASTER_KEY = _key()  # the new key alone
    for arguments in (["--dry-run"], []):
        with pytest.raises(CommandError, match=r"1 sealed value was sealed with a master key "
                           r"that is not configured.*STEWARD_MASTER_KEY=new,old"):  # fmt: skip
            call_command("rotate_master_key", *arguments)
    assert bytes(Conversation.objects.get(pk=conversation.pk).data_key_wrapped) == before


def test_rotation_with_the_keys_in_the_wrong_order_says_the_new_one_comes_first(
    conversation, settings, capsys
):
    settings.STEWARD_MASTER_KEY = f"{settings.STEWARD_MASTER_KEY},{_key()}"  # old, new
    call_command("rotate_master_key", "--dry-run")
    assert "it must come first: STEWARD_MASTER_KEY=new,old" in capsys.readouterr().out
