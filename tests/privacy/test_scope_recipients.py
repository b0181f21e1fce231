"""Who received a subject's data, read from the audit trail without reading all of it.

A subject mentioned in thousands of conversations made the scope query every event
(no index used for a list that long), sort them all and decode each one's details.
"""

import re
from collections import Counter, defaultdict
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import record
from chat.models import SubjectMention
from privacy import scope
from tests.factories import make_category, make_user
from tests.privacy.conftest import make_conversation

EMAIL = "jane.roe@example.org"
KIND = "EMAIL_ADDRESS"


def _call(
    conversation, backend, *, hosting="cloud", region="eu", message="", replaced=None, **more
):
    record(
        action=AuditEvent.Action.CHAT_REQUEST,
        target=conversation,
        backend=backend,
        outcome=more.pop("outcome", AuditEvent.Outcome.SUCCESS),
        details={
            "hosting_class": hosting,
            "region": region,
            "message": message,
            "replaced": replaced or {},
            "findings": [{"type": KIND, "start": 0, "end": 9}],
            **more,
        },
    )


@pytest.fixture
def trail(db):
    """Six conversations mentioning Jane, one of them after its calls; two of Alice's own;
    calls pseudonymised and in clear, blocked ones, and a backend whose hosting moved."""
    category = make_category(number=7, slug="bench", name="Bench", retention_days=30)
    people = SimpleNamespace(
        alice=make_user("alice@corp.example"), bob=make_user("bob@corp.example")
    )
    mentioned = []
    for number in range(6):
        later = number == 5  # mentioned only after its calls: they carried nothing of hers
        conversation = make_conversation(people.bob, category, days_idle=-1 if later else 0)
        message = conversation.messages.first()
        SubjectMention.objects.create(
            digest=scope.digest_of("email", EMAIL),
            kind=KIND,
            conversation=conversation,
            message=message,
        )
        mentioned.append((conversation, str(message.public_id)))
    for number, (conversation, message) in enumerate(mentioned):
        replaced = {KIND: 1} if number % 2 else {}
        _call(conversation, "Cloud", message=message, replaced=replaced)
        _call(conversation, "Cloud", message="another message")
        _call(
            conversation, "Local", hosting="on_prem", region="", message=message, replaced=replaced
        )
        _call(conversation, "Cloud", outcome=AuditEvent.Outcome.BLOCKED, message=message)
        _call(conversation, "", message=message)  # blocked before any backend was chosen
    for _ in range(2):
        owned = make_conversation(people.alice, category)
        _call(owned, "Local", hosting="on_prem", region="")
        _call(owned, "Cloud", message="not a mention", replaced={KIND: 2})
    _call(mentioned[0][0], "Cloud", hosting="private_cloud", region="eu-west-1")  # it moved
    return people


def _recipients_read_whole(*, digests, subject_user_id):
    """The table as it was read before: every event whole, newest first."""
    first, owned, messages = {}, set(), defaultdict(set)
    for mention in (
        scope.mentions(digests)
        .filter(message__isnull=False)
        .select_related("message", "conversation")
    ):
        conversation = str(mention.conversation.public_id)
        at = mention.message.created_at
        if conversation not in first or at < first[conversation]:
            first[conversation] = at
        messages[str(mention.message.public_id)].add(mention.kind)
    if subject_user_id is not None:
        from chat.models import Conversation

        for theirs in Conversation.objects.filter(owner_id=subject_user_id):
            first[str(theirs.public_id)] = theirs.created_at
            owned.add(str(theirs.public_id))
    in_clear, table, calls = set(), {}, defaultdict(Counter)
    for event in AuditEvent.objects.filter(
        action=AuditEvent.Action.CHAT_REQUEST,
        outcome=AuditEvent.Outcome.SUCCESS,
        target_type="chat.conversation",
        target_id__in=list(first),
    ):
        conversation, details = event.target_id, event.details
        if event.occurred_at < first[conversation] or not event.backend:
            continue
        kinds = messages.get(details.get("message", ""), ())
        if any(not details.get("replaced", {}).get(kind) for kind in kinds):
            in_clear.add(conversation)
        entry = table.setdefault(
            event.backend,
            {
                "backend": event.backend,
                "hosting_class": details.get("hosting_class", ""),
                "region": details.get("region", ""),
                "calls": 0,
                "in_clear": 0,
            },
        )
        entry["calls"] += 1
        calls[event.backend][conversation] += 1
    for backend, entry in table.items():
        entry["in_clear"] = sum(
            times
            for conversation, times in calls[backend].items()
            if conversation in owned or conversation in in_clear
        )
    return sorted(table.values(), key=lambda entry: entry["backend"])


@pytest.mark.parametrize("chunk", [1, 2, 500])
@pytest.mark.parametrize("owner", [None, "alice"])
def test_the_table_is_the_one_the_whole_events_gave(trail, monkeypatch, chunk, owner):
    """Chunked, unordered and reading only the details it needs, it finds what reading
    every event whole found: calls, calls in clear, and each backend's latest hosting."""
    monkeypatch.setattr(scope, "CONVERSATION_CHUNK", chunk)
    digests = [scope.digest_of("email", EMAIL)]
    subject = getattr(trail, owner).pk if owner else None
    found = scope.recipients(digests=digests, subject_user_id=subject)
    assert found == _recipients_read_whole(digests=digests, subject_user_id=subject)
    cloud = {entry["backend"]: entry for entry in found}["Cloud"]
    assert (cloud["hosting_class"], cloud["region"]) == ("private_cloud", "eu-west-1")
    # Five conversations' calls count (the sixth's came before the mention), and the moved one.
    assert cloud["calls"] == 5 * 2 + 1 + (2 if owner else 0)


def test_the_trail_is_read_a_chunk_of_conversations_at_a_time_and_never_whole(trail, monkeypatch):
    monkeypatch.setattr(scope, "CONVERSATION_CHUNK", 2)
    with CaptureQueriesContext(connection) as queries:
        scope.recipients(digests=[scope.digest_of("email", EMAIL)], subject_user_id=None)
    reads = [q["sql"] for q in queries if 'FROM "audit_auditevent"' in q["sql"]]
    assert len(reads) == 3  # six conversations, two at a time
    whole_details = re.compile(r'(SELECT|,)\s*"audit_auditevent"\."details"\s*(,|FROM)')
    for sql in reads:
        assert "ORDER BY" not in sql  # no sort of thousands of events nobody needs in order
        assert not whole_details.search(sql), sql
