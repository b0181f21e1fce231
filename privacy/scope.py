"""What a data-subject request reaches: found through the subject index, never by decrypting.

A subject is reached in two ways: mentions of their identifiers in anyone's
conversations (the subject index holds the keyed hashes), and, for a staff
member, the conversations they own. Who received their data comes from the
audit trail's ``chat.request`` events of those conversations.
"""

from collections import Counter, defaultdict

from django.db.models import Count, Min, Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from audit.models import AuditEvent
from audit.services import pseudonym
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import canonical
from privacy import purge

#: What the intake form calls an identifier -> the detector's entity type.
IDENTIFIER_KINDS = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "name": "PERSON",
    "other": "OTHER",
}
#: Audit events read at a time when finding who received a subject's data.
EVENT_CHUNK = 2000
#: Conversations whose audit events one query reads. A list this long still uses the
#: events' (target_type, target_id) index; 2,600 ids made PostgreSQL scan every event.
CONVERSATION_CHUNK = 500


def digest_of(kind: str, value: str) -> str:
    """The subject index's keyed hash of an identifier as a person typed it."""
    return pseudonym(canonical(IDENTIFIER_KINDS.get(kind, kind), value))


def mentions(digests: list[str]):
    return SubjectMention.objects.filter(digest__in=digests)


def scope_of(*, digests: list[str], subject_user_id: int | None) -> dict:
    """Counts of what the request reaches, plus the recipients; reads indexes only."""
    found = mentions(digests).aggregate(
        messages=Count("message_id", distinct=True),
        conversations=Count("conversation_id", distinct=True),
        owners=Count("conversation__owner_id", distinct=True),
    )
    own = {"conversations": 0, "messages": 0}
    if subject_user_id is not None:
        owned = Conversation.objects.filter(owner_id=subject_user_id)
        own = {
            "conversations": owned.count(),
            "messages": Message.objects.filter(conversation__owner_id=subject_user_id).count(),
        }
    reached = Q(pk__in=mentions(digests).values("conversation_id"))
    if subject_user_id is not None:
        reached |= Q(owner_id=subject_user_id)
    held = purge.held(Conversation.objects.filter(reached)).count()
    return {
        "mentions": found,
        "own": own,
        "held_conversations": held,
        # A hold on the subject keeps their conversations and their account.
        "subject_held": subject_user_id is not None and purge.person_held(subject_user_id),
        "recipients": recipients(digests=digests, subject_user_id=subject_user_id),
    }


def recipients(*, digests: list[str], subject_user_id: int | None) -> list[dict]:
    """Which backends received the subject's data, and whether in clear or pseudonymised.

    Every call in a conversation from the first mention on carried it (the
    history goes with each call). It went pseudonymised when the message that
    mentioned it had that kind of identifier replaced by a placeholder.
    """
    first_mention: dict[str, object] = {}
    mention_kinds: dict[str, set[str]] = defaultdict(set)
    mention_messages: dict[str, str] = {}
    rows = (
        mentions(digests)
        .filter(message__isnull=False)  # a title's rows: a title goes to no model
        .values("conversation__public_id", "message__public_id", "kind")
        .annotate(at=Min("message__created_at"))
    )
    for row in rows:
        conversation = str(row["conversation__public_id"])
        if conversation not in first_mention or row["at"] < first_mention[conversation]:
            first_mention[conversation] = row["at"]
        mention_kinds[conversation].add(row["kind"])
        mention_messages[str(row["message__public_id"])] = row["kind"]
    if subject_user_id is not None:
        for public_id, created in Conversation.objects.filter(owner_id=subject_user_id).values_list(
            "public_id", "created_at"
        ):
            first_mention[str(public_id)] = created

    in_clear: set[str] = set()
    table: dict[str, dict] = {}
    newest: dict[str, int] = {}  # backend -> sequence of the event its hosting is read from
    calls: dict[str, Counter] = defaultdict(Counter)  # backend -> conversation -> calls
    for call in _calls_in(list(first_mention)):
        conversation, backend = call["target_id"], call["backend"]
        if call["occurred_at"] < first_mention[conversation]:
            continue
        kind = mention_messages.get(call["sent_message"])
        if kind is not None and not (call["replaced"] or {}).get(kind):
            in_clear.add(conversation)
        entry = table.setdefault(
            backend,
            {"backend": backend, "hosting_class": "", "region": "", "calls": 0, "in_clear": 0},
        )
        if call["sequence"] > newest.get(backend, -1):  # as the trail's latest call names it
            newest[backend] = call["sequence"]
            entry["hosting_class"] = call["hosting_class"] or ""
            entry["region"] = call["region"] or ""
        entry["calls"] += 1
        calls[backend][conversation] += 1

    def went_in_clear(conversation: str) -> bool:
        owned = subject_user_id is not None and conversation not in mention_kinds
        return owned or conversation in in_clear

    for backend, entry in table.items():
        entry["in_clear"] = sum(
            times for conversation, times in calls[backend].items() if went_in_clear(conversation)
        )
    return sorted(table.values(), key=lambda entry: entry["backend"])


def _calls_in(conversations: list[str]):
    """The model calls made in ``conversations`` (public ids), in no particular order: the
    event's sequence, conversation, time and backend, and of its details only what
    :func:`recipients` reads (the message, the backend's hosting class and region, and what
    was replaced), not the whole JSON of each of a busy subject's thousands of calls.

    A chunk of conversations per query, so that each uses the target index, and a chunk of
    events at a time from each.
    """
    for start in range(0, len(conversations), CONVERSATION_CHUNK):
        events = (
            AuditEvent.objects.filter(
                action=AuditEvent.Action.CHAT_REQUEST,
                outcome=AuditEvent.Outcome.SUCCESS,
                target_type="chat.conversation",
                target_id__in=conversations[start : start + CONVERSATION_CHUNK],
            )
            .exclude(backend="")
            .order_by()
            .values(
                "sequence",
                "target_id",
                "occurred_at",
                "backend",
                sent_message=KeyTextTransform("message", "details"),
                hosting_class=KeyTextTransform("hosting_class", "details"),
                region=KeyTextTransform("region", "details"),
                replaced=KeyTransform("replaced", "details"),
            )
        )
        yield from events.iterator(chunk_size=EVENT_CHUNK)
