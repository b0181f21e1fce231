"""``get_message_for_user`` and ``get_message_to_stream``: a message is its conversation
owner's alone."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from chat.access import get_message_for_user, get_message_to_stream
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


def test_a_stream_gets_its_answer_with_conversation_and_category_in_one_query(member, answer):
    with CaptureQueriesContext(connection) as queries:
        found = get_message_to_stream(member, answer.public_id)
        assert found == answer and found.role == "assistant"
        assert found.conversation.owner_id == member.pk
        assert found.conversation.category.number == 1
        assert found.conversation.key  # the data key opens: the row came whole
    assert len(queries) == 1


@pytest.mark.parametrize("who", ["someone else", "anonymous"])
def test_a_stream_of_someone_elses_answer_is_404(answer, who):
    user = AnonymousUser() if who == "anonymous" else make_user("other@example.com", Role.STAFF)
    with pytest.raises(Http404):
        get_message_to_stream(user, answer.public_id)
