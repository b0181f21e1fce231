"""Who may open which conversation: its owner, and nobody else (404 for everyone else)."""

from uuid import UUID

from django.http import Http404

from chat.models import Conversation, Message
from governance.models import User


def get_conversation_for_user(user: User, public_id: UUID) -> Conversation:
    """The user's own conversation; anyone else's, or a missing one, is 404."""
    conversation = (
        Conversation.objects.visible_to(user)
        .select_related("category")
        .filter(public_id=public_id)
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


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
