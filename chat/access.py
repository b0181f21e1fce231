"""Who may open which conversation: its owner, and nobody else (404 for everyone else)."""

from uuid import UUID

from django.db import connection
from django.http import Http404

from chat.models import Conversation, Message
from config.rows import Prebuilt
from governance.models import Category, User


def _conversation_tail() -> str:
    return (
        f"{Conversation._meta.db_table} c "
        f"JOIN {Category._meta.db_table} k ON k.id = c.category_id "
        "WHERE c.public_id = %s AND c.owner_id = %s"
    )


_OWN_CONVERSATION = Prebuilt([(Conversation, "c"), (Category, "k")], _conversation_tail)


def _owned(rows: Prebuilt, user: User, public_id: UUID, missing: str) -> tuple:
    """The row of ``rows`` (its first source's ``public_id``, owned by ``user``); 404 with
    ``missing`` for anyone else's, a missing one, or an anonymous visitor."""
    if not user.is_authenticated:
        raise Http404(missing)
    model = rows.sources[0][0]
    key = model._meta.get_field("public_id").get_db_prep_value(public_id, connection)
    found = rows.one([key, user.pk])
    if found is None:
        raise Http404(missing)
    return found


def get_conversation_for_user(user: User, public_id: UUID) -> Conversation:
    """The user's own conversation, with its category; anyone else's, or a missing one, is
    404. SQL built once: every chat page and message asks."""
    conversation, conversation.category = _owned(
        _OWN_CONVERSATION, user, public_id, "No such conversation."
    )
    return conversation


def conversations_listed_for(user: User):
    """The user's own conversations, newest activity first, as lists show them (with their
    category; without the pseudonym mapping, which no list needs)."""
    return (
        Conversation.objects.visible_to(user)
        .select_related("category")
        .defer("pseudonyms_sealed")
        .order_by("-last_activity_at", "-public_id")
    )


def get_message_for_user(user: User, public_id: UUID) -> Message:
    """A message in one of the user's own conversations (404 otherwise)."""
    message = (
        Message.objects.visible_to(user)
        .filter(public_id=public_id)
        .select_related("conversation__category", "backend", "reply_to")
        .first()
    )
    if message is None:
        raise Http404("No such message.")
    return message


def _answer_tail() -> str:
    return (
        f"{Message._meta.db_table} m "
        f"JOIN {Conversation._meta.db_table} c ON c.id = m.conversation_id "
        f"JOIN {Category._meta.db_table} k ON k.id = c.category_id "
        "WHERE m.public_id = %s AND c.owner_id = %s"
    )


_MESSAGE_IN_CONVERSATION = Prebuilt(
    [(Message, "m"), (Conversation, "c"), (Category, "k")], _answer_tail
)


def get_message_to_stream(user: User, public_id: UUID) -> Message:
    """:func:`get_message_for_user` with only its conversation and category, from SQL built
    once: every answer's stream asks, and building the ORM's query took longer than
    running it."""
    message, conversation, conversation.category = _owned(
        _MESSAGE_IN_CONVERSATION, user, public_id, "No such message."
    )
    message.conversation = conversation
    return message
