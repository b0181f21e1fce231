"""The retention preview counts every category in one pass over the messages.

It counted each category's expired messages with a query of its own, each reading the
whole message table: 631 ms for the privacy desk's preview (and every purge's start)
at 284,000 messages.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Conversation, Message
from governance.models import Category
from privacy import purge, services
from tests.factories import make_category, make_user
from tests.privacy.conftest import make_conversation


def _bare(owner, category, days_idle):
    """A conversation with no title, no placeholders and no messages."""
    at = timezone.now() - timezone.timedelta(days=days_idle)
    conversation = Conversation(owner=owner, category=category, last_activity_at=at, created_at=at)
    conversation.init_key()
    conversation.save()
    return conversation


def _categories(last: int, first: int = 1) -> list[Category]:
    """Categories ``first`` to ``last``: windows of 30 and 7 days, the third storing
    nothing, the fourth blocking all."""
    made = []
    for number in range(first, last + 1):
        values = {"retention_days": 30 if number % 2 else 7}
        if number == 3:
            values["retention_days"] = None  # stores none: what it kept before goes now
        if number == 4:
            values["blocks_all"] = True
        made.append(make_category(number=number, slug=f"c{number}", name=f"C{number}", **values))
    return made


@pytest.fixture
def expired(officers):
    """Conversations either side of each window, held ones and empty ones."""
    alice, carol = make_user("alice@corp.example"), make_user("carol@corp.example")
    categories = _categories(5)
    for category in categories:
        for days in (3, 8, 31, 100):
            make_conversation(alice, category, days_idle=days, texts=("One", "Two", "Three"))
            make_conversation(carol, category, days_idle=days)
            _bare(alice, category, days)
    services.place_hold(
        actor=officers[0],
        reason="Case 7",
        conversation=Conversation.objects.filter(category=categories[0], owner=alice).last(),
    )
    services.place_hold(actor=officers[0], reason="Case 8", user=carol)
    return categories


def _counted_a_category_at_a_time(now):
    """What the preview counted with a query per category, as it did before."""
    counts, held = {}, 0
    for category in Category.objects.all():
        conversations = purge.expired_conversations(category, now)
        if found := conversations.count():
            messages = Message.objects.filter(conversation__in=conversations).count()
            counts[category.name] = {"conversations": found, "messages": messages}
        held += purge.held(purge._past_window(category, now)).count()
    return counts, held


def test_the_preview_counts_what_a_query_per_category_counted(expired):
    now = timezone.now()
    found = purge.preview(now)
    counts, held = _counted_a_category_at_a_time(now)
    assert found.counts == counts
    assert list(found.counts) == list(counts)  # in the categories' order
    assert found.held == held
    assert found.held > 0 and found.counts["C3"]["conversations"] > 0
    assert "C3" in found.counts and found.counts["C1"]["messages"] > 0


def test_the_preview_reads_the_messages_once_however_many_categories(officers):
    owner = make_user("alice@corp.example")
    categories = _categories(2)
    for category in categories:
        make_conversation(owner, category, days_idle=40)
    with CaptureQueriesContext(connection) as two:
        purge.preview()
    for category in _categories(6, first=3):
        make_conversation(owner, category, days_idle=40)
    with CaptureQueriesContext(connection) as six:
        found = purge.preview()
    assert len(found.counts) == 6
    assert len(six) == len(two)
    counting_messages = [q for q in six if 'COUNT("chat_message"' in q["sql"]]
    assert len(counting_messages) == 1  # one grouped count for all six categories
