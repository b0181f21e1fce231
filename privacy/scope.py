"""What a data-subject request reaches: found through the subject index, never by decrypting.

A subject is reached in two ways: mentions of their identifiers in anyone's
conversations (the subject index holds the keyed hashes), and, for a staff
member, the conversations they own. Who received their data comes from the
audit trail's ``chat.request`` events of those conversations.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Min, Prefetch, Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from audit.models import AuditEvent
from audit.services import pseudonym
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import canonical
from privacy import purge
from privacy.literals import holds_literal, literal_patterns

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


def recipients(
    *, digests: list[str], subject_user_id: int | None, literals: list[str] | None = None
) -> list[dict]:
    """Which backends received the subject's data, and how many calls carried it in clear.

    Every call in a conversation from the first mention on carried it (the history goes
    with each call). It went pseudonymised when the message that mentioned it had each kind
    of identifier it held replaced by a placeholder; a conversation the subject owns is
    theirs, all of it in clear. ``literals`` (the values the request names) may show
    otherwise: a value found as written in what a conversation sent (a name without a title
    is not recognised) means every call from that message on carried it in clear, even
    before the first mention the index holds. Given ``literals``, each entry also counts its
    calls ``unchecked``: in a conversation whose text is not kept, or whose question was sent
    again since with other placeholders (a retry under a new policy), nothing shows what
    they carried. Without them (the scope before approval) only the indexes are read.
    """
    first_mention: dict[str, object] = {}
    mention_kinds: dict[str, set[str]] = defaultdict(set)  # message -> kinds it mentions
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
        mention_kinds[str(row["message__public_id"])].add(row["kind"])
    in_clear: set[str] = set()  # conversations all of whose calls since it began carried it
    if subject_user_id is not None:
        for public_id, created in Conversation.objects.filter(owner_id=subject_user_id).values_list(
            "public_id", "created_at"
        ):
            first_mention[str(public_id)] = created
            in_clear.add(str(public_id))

    calls = list(_calls_in(list(first_mention)))
    for call in calls:
        kinds = mention_kinds.get(call["sent_message"], ())
        if any(not (call["replaced"] or {}).get(kind) for kind in kinds):
            in_clear.add(call["target_id"])
    sent = _Sent()
    if literals is not None:
        reached = {call["target_id"] for call in calls} - in_clear
        sent = _sent_as_written(reached, literal_patterns(literals))

    table: dict[str, dict] = {}
    newest: dict[str, int] = {}  # backend -> sequence of the event its hosting is read from
    for call in calls:
        conversation, when = call["target_id"], call["occurred_at"]
        written = sent.written.get(conversation)
        begun = (
            first_mention[conversation]
            if written is None
            else min(first_mention[conversation], written)
        )
        if when < begun:
            continue  # before the conversation held anything of theirs
        backend = call["backend"]
        entry = table.setdefault(backend, _entry(backend, checked=literals is not None))
        if call["sequence"] > newest.get(backend, -1):  # as the trail's latest call names it
            newest[backend] = call["sequence"]
            entry["hosting_class"] = call["hosting_class"] or ""
            entry["region"] = call["region"] or ""
        entry["calls"] += 1
        if conversation in in_clear or (written is not None and when >= written):
            entry["in_clear"] += 1
        elif conversation in sent.unchecked or sent.sent_otherwise(call):
            entry["unchecked"] += 1
    return sorted(table.values(), key=lambda entry: entry["backend"])


def _entry(backend: str, *, checked: bool) -> dict:
    entry = {"backend": backend, "hosting_class": "", "region": "", "calls": 0, "in_clear": 0}
    return entry | {"unchecked": 0} if checked else entry


@dataclass
class _Sent:
    """What the reached conversations' stored text shows of what they sent."""

    #: conversation -> when a value the request names first went as written
    written: dict[str, object] = field(default_factory=dict)
    #: conversations whose text is not kept
    unchecked: set[str] = field(default_factory=set)
    #: question -> what its stored text had replaced (as sent last)
    replaced: dict[str, dict] = field(default_factory=dict)

    def sent_otherwise(self, call: dict) -> bool:
        """Whether ``call`` sent its question with other placeholders than its stored text
        has: sent again since (a retry under a new policy), what this call sent is gone."""
        stored = self.replaced.get(call["sent_message"])
        return stored is not None and stored != (call["replaced"] or {})


def _sent_as_written(conversations: set[str], patterns) -> _Sent:
    """Of ``conversations`` (public ids): when each that sent one of ``patterns`` as written
    first did (the question as sent; or an answer, from the call that wrote it: its provider
    keeps what it answered, and the answer goes back with the history), those whose text is
    not kept (a question sent without its text stored), and what each question had replaced."""
    sent = _Sent()
    if not patterns:
        return sent
    ids = sorted(conversations)
    for start in range(0, len(ids), CONVERSATION_CHUNK):
        chunk = Conversation.objects.filter(
            public_id__in=ids[start : start + CONVERSATION_CHUNK]
        ).prefetch_related(Prefetch("messages", Message.objects.order_by("created_at", "pk")))
        for conversation in chunk.order_by("pk"):
            public_id = str(conversation.public_id)
            for message in conversation.messages.all():
                message.conversation = conversation
                question = message.role == Message.Role.USER
                if question:
                    sent.replaced[str(message.public_id)] = message.replaced or {}
                if public_id in sent.written:
                    continue
                if question and message.status == Message.Status.SENT:
                    if not message.content_sealed:
                        sent.unchecked.add(public_id)
                        continue
                    text = message.sent_text
                elif message.content_sealed:
                    text = message.content
                else:
                    continue
                if holds_literal(patterns, text):
                    sent.written[public_id] = message.created_at
    return sent


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
