"""Breach scope: what reached one model backend in a window, read from the audit trail.

When a provider reports an incident ("our logs for 2–4 December were exposed"), the
privacy officer has 72 hours (GDPR Art. 33) to say what it held: how many calls,
in which categories, whether in clear, whose conversations and how many people they
name. Every model call is a ``chat.request`` event naming its backend, category,
findings and what was replaced, and the message it sent; the subject index says whom
that message mentions. Nothing here decrypts a message.

The number of queries does not grow with the calls: the events are read in one
streamed query (so each call's JSON is decoded once, and only the keys counted),
and the conversations and people are found by subqueries over the same events.
"""

import csv
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import CharField, Count, Exists, F, OuterRef, Subquery, UUIDField, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, NullIf, Replace
from django.utils import timezone
from django.utils.text import slugify

from audit.exports import BOM, defuse
from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation, SubjectMention
from config.downloads import local_time
from governance.models import Backend
from governance.policy import finding_name

#: Audit events fetched at a time while counting.
EVENT_CHUNK = 2000


class Sent:
    """How a call's personal data went, as its event records it."""

    IN_CLEAR = "in_clear"  # some finding was sent as written
    PSEUDONYMISED = "pseudonymised"  # every finding was replaced by a placeholder
    NOTHING_FOUND = "nothing_found"  # the detectors found no personal data
    ALL = (IN_CLEAR, PSEUDONYMISED, NOTHING_FOUND)


@dataclass
class ConversationReached:
    """One conversation with calls to the backend in the window (a row of the CSV)."""

    public_id: str
    category: str = ""
    first_call: dt.datetime | None = None
    last_call: dt.datetime | None = None
    calls: int = 0
    in_clear: set[str] = field(default_factory=set)
    author: str = ""  # as the trail names them: the owner, if the conversation is gone
    owner_email: str = ""
    exists: bool = False


@dataclass
class BreachScope:
    """What :func:`scope_of_breach` found; ``counts()`` is what the audit event keeps."""

    backend: str
    start: dt.datetime
    end: dt.datetime
    calls: int = 0
    by_category: dict[str, Counter] = field(default_factory=dict)
    sent: Counter = field(default_factory=Counter)
    conversations: list[ConversationReached] = field(default_factory=list)
    authors: int = 0
    kinds_in_clear: Counter = field(default_factory=Counter)  # finding type -> calls
    subjects_sent: dict[str, int] = field(default_factory=dict)
    subjects_sent_total: int = 0
    subjects_history: dict[str, int] = field(default_factory=dict)
    subjects_history_total: int = 0

    def category_rows(self) -> list[dict]:
        """Calls by category, in clear, pseudonymised and with nothing found."""
        return [
            {"category": name, "calls": sent.total(), **{how: sent[how] for how in Sent.ALL}}
            for name, sent in sorted(self.by_category.items())
        ]

    def people_rows(self) -> list[tuple[str, int, int]]:
        """Distinct people by identifier kind (in words): in the messages sent in the window,
        and in the conversations up to their last call."""
        sent, history = self.subjects_sent, self.subjects_history
        return [
            (finding_name(kind), sent.get(kind, 0), history.get(kind, 0))
            for kind in sorted(set(sent) | set(history))
        ]

    def kinds_in_words(self) -> list[tuple[str, int]]:
        return sorted(
            ((finding_name(kind), calls) for kind, calls in self.kinds_in_clear.items()),
            key=lambda pair: (-pair[1], pair[0]),
        )

    def counts(self) -> dict:
        """Numbers only: the breach report's audit event holds no personal data."""
        return {
            "calls": self.calls,
            "calls_in_clear": self.sent[Sent.IN_CLEAR],
            "calls_pseudonymised": self.sent[Sent.PSEUDONYMISED],
            "calls_nothing_found": self.sent[Sent.NOTHING_FOUND],
            "conversations": len(self.conversations),
            "authors": self.authors,
            "subjects_in_messages_sent": self.subjects_sent_total,
            "subjects_in_conversations": self.subjects_history_total,
            "kinds_in_clear": sorted(self.kinds_in_clear),
        }


def scope_of_breach(*, backend: str, start: dt.datetime, end: dt.datetime) -> BreachScope:
    """Everything the calls to ``backend`` (its name, as the trail records it) carried from
    ``start`` up to, not including, ``end``.

    1. Stream the window's successful ``chat.request`` events to the backend, counting
       calls by category and by how their findings went, and each conversation's calls.
    2. Read the conversations' owners, in one query over the same events.
    3. Count the distinct people the subject index finds in the messages those calls
       sent, and in the conversations up to their last call (the history goes with
       every call).
    """
    scope = BreachScope(backend=backend, start=start, end=end)
    events = calls_to(backend, start=start, end=end)
    reached: dict[str, ConversationReached] = {}
    authors: set = set()
    for call in _read(events):
        how, in_clear = _how_sent(call["findings"], call["replaced"])
        scope.calls += 1
        scope.sent[how] += 1
        scope.by_category.setdefault(call["category"] or "—", Counter())[how] += 1
        scope.kinds_in_clear.update(in_clear)
        authors.add(call["actor_id"] or call["actor_label"])
        entry = reached.setdefault(call["target_id"], ConversationReached(call["target_id"]))
        entry.calls += 1
        entry.in_clear.update(in_clear)
        if entry.first_call is None or call["occurred_at"] < entry.first_call:
            entry.first_call = call["occurred_at"]
        if entry.last_call is None or call["occurred_at"] >= entry.last_call:
            entry.last_call = call["occurred_at"]
            entry.category = call["category"]
            entry.author = call["actor_label"]
    scope.authors = len(authors)

    conversations = _as_uuid(F("target_id"))
    owners = Conversation.objects.filter(
        public_id__in=Subquery(events.annotate(conversation=conversations).values("conversation"))
    ).values_list("public_id", "owner__email")
    for public_id, email in owners:
        if (entry := reached.get(str(public_id))) is not None:
            entry.exists, entry.owner_email = True, email
    scope.conversations = sorted(reached.values(), key=lambda entry: entry.first_call)

    sent = _as_uuid(KeyTextTransform("message", "details"))
    in_messages = SubjectMention.objects.filter(
        message__public_id__in=Subquery(events.annotate(sent=sent).values("sent"))
    )
    scope.subjects_sent, scope.subjects_sent_total = _people(in_messages)
    in_history = SubjectMention.objects.filter(
        message__isnull=False,  # a title's rows: a title goes to no model
        conversation__public_id__in=Subquery(
            events.annotate(conversation=conversations).values("conversation")
        ),
    ).filter(
        Exists(
            events.annotate(conversation=conversations).filter(
                conversation=OuterRef("conversation__public_id"),
                occurred_at__gte=OuterRef("message__created_at"),
            )
        )
    )
    scope.subjects_history, scope.subjects_history_total = _people(in_history)
    return scope


def report(*, actor, backend: Backend, start: dt.datetime, end: dt.datetime, what: str):
    """Scope a breach at ``backend`` and record that it was scoped (``what``: the page or
    the CSV), with the window and the counts: no personal data."""
    scope = scope_of_breach(backend=backend.name, start=start, end=end)
    with transaction.atomic():
        record(
            action=AuditEvent.Action.BREACH_SCOPED,
            actor=actor,
            target=backend,
            backend=backend.name,
            details={
                "what": what,
                "from": start.isoformat(),
                "to": end.isoformat(),
                **scope.counts(),
            },
        )
    return scope


#: The CSV's header: one row per conversation reached.
CSV_COLUMNS = (
    "conversation", "owner_email", "author_in_trail", "category", "first_call", "last_call",
    "calls", "sent_in_clear", "still_stored",
)  # fmt: skip


def csv_text(scope: BreachScope) -> str:
    """The conversations reached, for the officer's notification work: whose they are (the
    owner's email; for one deleted since, the author as the trail names them), when and
    how often it went to the backend, and what personal data it sent as written."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in scope.conversations:
        row = (
            entry.public_id,
            entry.owner_email,
            entry.author,
            entry.category,
            local_time(entry.first_call),
            local_time(entry.last_call),
            str(entry.calls),
            "; ".join(sorted(finding_name(kind) for kind in entry.in_clear)),
            "yes" if entry.exists else "no",
        )
        writer.writerow([defuse(cell) for cell in row])
    return buffer.getvalue()


def csv_name(scope: BreachScope) -> str:
    start, end = timezone.localtime(scope.start), timezone.localtime(scope.end)
    return f"breach-scope-{slugify(scope.backend)}-{start:%Y%m%d-%H%M}-to-{end:%Y%m%d-%H%M}.csv"


def calls_to(backend: str, *, start: dt.datetime, end: dt.datetime):
    """The successful ``chat.request`` events naming ``backend`` in ``[start, end)``.

    Blocked calls reached no model. The name is matched whatever its case, as the
    auditor's filter does, so PostgreSQL walks the (UPPER(backend), sequence) index
    between the window's first and last sequence numbers (times follow sequence: an
    event is stamped inside the chain's write lock) rather than every event of the
    window; the time filter stays, exact at the edges.
    """
    events = AuditEvent.objects.filter(
        action=AuditEvent.Action.CHAT_REQUEST,
        outcome=AuditEvent.Outcome.SUCCESS,
        target_type="chat.conversation",
        backend__iexact=backend,
        occurred_at__gte=start,
        occurred_at__lt=end,
    ).order_by()
    return events.within(start, end)


def _read(events):
    """Of each call, only what is counted, not the whole JSON of its details."""
    rows = events.values(
        "target_id",
        "occurred_at",
        "category",
        "actor_id",
        "actor_label",
        findings=KeyTransform("findings", "details"),
        replaced=KeyTransform("replaced", "details"),
    )
    return rows.iterator(chunk_size=EVENT_CHUNK)


def _how_sent(findings, replaced) -> tuple[str, set[str]]:
    """Whether a call went in clear, pseudonymised or with nothing found, and the finding
    types it sent as written. A type is in clear when found more times than replaced; a
    matching rule ("rule <name>") is no kind of personal data."""
    found = _by_type(findings)
    swapped = _by_type(replaced)
    found = Counter({kind: n for kind, n in found.items() if not kind.startswith("rule ")})
    in_clear = {kind for kind, n in found.items() if n > swapped.get(kind, 0)}
    if in_clear:
        return Sent.IN_CLEAR, in_clear
    if found:
        return Sent.PSEUDONYMISED, in_clear
    return Sent.NOTHING_FOUND, in_clear


def _by_type(value) -> Counter:
    """``{type: count}`` as events hold it; an older event's list of findings counted."""
    if isinstance(value, dict):
        return Counter({str(kind): int(n or 0) for kind, n in value.items()})
    if isinstance(value, list):
        return Counter(str(item.get("type", "")) for item in value if isinstance(item, dict))
    return Counter()


def _people(mentions) -> tuple[dict[str, int], int]:
    """Distinct people (subject-index digests) by identifier kind, and in all."""
    by_kind = dict(
        mentions.order_by()
        .values("kind")
        .annotate(people=Count("digest", distinct=True))
        .values_list("kind", "people")
    )
    total = mentions.aggregate(people=Count("digest", distinct=True))["people"]
    return by_kind, total


def _as_uuid(text):
    """A text column (a conversation's or message's public id in an event) as the UUID
    column it names: PostgreSQL casts it; SQLite stores UUIDs as 32 hex digits."""
    text = NullIf(text, Value(""), output_field=CharField())
    if connection.vendor == "postgresql":
        return Cast(text, UUIDField())
    return Replace(text, Value("-"), Value(""))
