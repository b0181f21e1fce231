"""``get_message_for_user``: a message is its conversation owner's alone."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from chat.access import get_message_for_user
from chat.models import Conversation, Message
from governance.roles import Role
from tests.factories import make_category, make_user


@pytest.fixture
def answer(member):
    conversation = Conversation(owner=member, category=make_category())
    conversation.init_key()
    conversation.save()
    question = Message.objects.create(
        conversation=conversation, role="user", status="sent", category_number=1
    )
    return Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="done",
        category_number=1,
        reply_to=question,
    )


def test_it_gives_a_message_to_its_conversations_owner_in_one_query(member, answer):
    with CaptureQueriesContext(connection) as queries:
        found = get_message_for_user(member, answer.public_id)
        assert found == answer
        assert found.conversation.category.number == 1  # came along
        assert found.reply_to.role == "user"
    (query,) = queries
    assert "IN (SELECT" not in query["sql"]  # the owner is checked in the join


@pytest.mark.parametrize("who", ["someone else", "anonymous"])
def test_it_hides_a_message_from_everyone_else(answer, who):
    user = AnonymousUser() if who == "anonymous" else make_user("other@example.com", Role.STAFF)
    with pytest.raises(Http404):
        get_message_for_user(user, answer.public_id)
