"""Writing to the audit trail. Callers use :func:`record`; a path that writes rows with their
events can have them appended in the same statement as an update (:func:`update_and_record`)
or with its inserts (:class:`audit.writes.Writes`)."""

import contextvars
import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.utils import timezone

from audit import chain
from audit.models import AuditEvent
from config.middleware import current_request_id
from config.prepared import prepared_cursor

#: Where the events recorded now go instead of the chain, for whoever set it to append.
_held: contextvars.ContextVar[list[AuditEvent] | None] = contextvars.ContextVar(
    "audit_held", default=None
)


def record(
    *,
    action: str,
    actor=None,
    actor_label: str = "",
    target: models.Model | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    message: str = "",
    category: str = "",
    backend: str = "",
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    Appends are serialised so two writers can never link to the same
    predecessor: on PostgreSQL the ``audit_append`` function takes an advisory
    lock held to the end of the transaction, then numbers, stamps, hashes and
    inserts in one round trip; on SQLite the transaction already holds the
    database's single write lock. If this raises, the caller's transaction
    rolls back with it: an action that cannot be audited does not happen (a
    number beyond 64 bits in ``before``, ``after`` or ``details``, say: see
    :func:`audit.chain.as_stored`). Inside :func:`collected`, the event is held
    for the caller to append.
    """
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    request_id = current_request_id.get()
    event = AuditEvent(
        actor=actor,
        # A name, or an email address of up to 254 characters: the column holds 200, and the
        # hash covers what it holds.
        actor_label=_clipped(actor_label or (actor.display_name if actor else "system"), 200),
        request_id="" if request_id == "-" else request_id,
        action=action,
        outcome=outcome,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=_target_id(target),
        target_repr=_clipped(str(target), 200) if target is not None else "",
        category=category,
        backend=backend,
        # As the database will give them back, which is what the verifier hashes.
        before=chain.as_stored(before),
        after=chain.as_stored(after),
        details=chain.as_stored(details or {}),
        message=_clipped(message, 500),
    )
    event.pseudonyms = _pseudonyms(event, by_person=actor is not None, about=target)
    held = _held.get()
    if held is not None:
        held.append(event)
    else:
        append_events([event])
    return event


#: The values of JSON columns that are personal wherever they are recorded: a sign-in's
#: address, and the email address a clearance's events name its person by.
PERSONAL_KEYS = ("details.ip", "before.user_email", "after.user_email")


def _pseudonyms(event: AuditEvent, *, by_person: bool, about) -> dict[str, str] | None:
    """The keyed hash of each personal value of ``event``, by path (None: it holds none).

    Personal: the actor's label when a person acted (not "system" or a command's name), the
    target's label when it names a person (:data:`NAMING_TARGETS`), and
    :data:`PERSONAL_KEYS`.
    """
    clear = {}
    if by_person and event.actor_label:
        clear["actor_label"] = event.actor_label
    if about is not None and event.target_repr and _names_a_person(about):
        clear["target_repr"] = event.target_repr
    changes = {"details": event.details, "before": event.before, "after": event.after}
    for path in PERSONAL_KEYS:
        value = chain.value_at(changes, path)
        if isinstance(value, str) and value:
            clear[path] = value
    return {path: pseudonym(value) for path, value in clear.items()} or None


#: Besides accounts, the targets whose label names their person. Every other label was
#: written to name no one (a conversation's id, a request's reference), and stays readable.
NAMING_TARGETS = frozenset(
    {"governance.clearance", "training.acknowledgement", "training.quizattempt"}
)


def _names_a_person(target: models.Model) -> bool:
    return target._meta.label_lower in NAMING_TARGETS or isinstance(target, get_user_model())


def update_and_record(sql: str, params: list, event: Callable[[], Any]) -> int:
    """Run ``sql``, an ``UPDATE`` (``%s`` parameters); if any row changed, ``event()`` records
    its event. Returns how many rows changed.

    On PostgreSQL outside a transaction, the update and the append are one
    statement: one round trip, and the chain's lock ends with the statement
    instead of waiting for the caller's commit. Elsewhere, one transaction.
    The caller writes the update once: on a path every answer takes, building
    the ORM's cost more CPU than running it.
    """
    if not _in_one_statement():
        with transaction.atomic():
            changed = _update(sql, params)
            if changed:
                event()
        return changed
    return _update_then_append(sql, params, event)


def _in_one_statement() -> bool:
    return (
        connection.vendor == "postgresql" and not connection.in_atomic_block and _held.get() is None
    )


def _update(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _update_then_append(update_sql: str, update_params: list, event: Callable[[], Any]) -> int:
    events: list[AuditEvent] = []
    with collected(events):
        event()
    if not events:
        return _update(update_sql, update_params)
    append_sql, append_params = append_statement(events, when="EXISTS (SELECT 1 FROM changed)")
    with prepared_cursor() as cursor:
        cursor.execute(
            f"WITH changed AS ({update_sql} RETURNING 1), appended AS ({append_sql}) "
            "SELECT (SELECT count(*) FROM changed), appended.* "
            "FROM (SELECT 1) AS one LEFT JOIN appended ON true ORDER BY appended.sequence",
            [*update_params, *append_params],
        )
        rows_back = cursor.fetchall()
    changed = rows_back[0][0]
    if changed:
        appended(events, [row[1:] for row in rows_back])
    return changed


@contextmanager
def collected(into: list[AuditEvent]) -> Iterator[None]:
    """Events recorded inside the block go to ``into``, for the caller to append (see
    :class:`audit.writes.Writes`)."""
    token = _held.set(into)
    try:
        yield
    finally:
        _held.reset(token)


def append_events(events: list[AuditEvent]) -> None:
    """Append ``events`` in order. The chain's lock is held from here to the commit, which
    every other writer waits for: in a transaction, make this its last statement."""
    if connection.vendor == "postgresql":
        # One statement: inside the caller's transaction it joins it; alone,
        # it is its own transaction and the lock ends with it.
        _append_in_postgresql(events)
    else:
        with transaction.atomic():
            for event in events:
                _append_here(event)


#: audit_append's arguments, typed: the content, the actor's id, nine text columns, three
#: JSON columns, the message and the keyed hashes of the personal values.
_ARGUMENTS = (
    "%s::bytea, %s::bigint, "
    + "%s::text, " * 9
    + "%s::jsonb, %s::jsonb, %s::jsonb, %s::text, %s::jsonb"
)
_COLUMNS = ", ".join(
    ["content", *chain.CONTENT_FIELDS[:10], "before", "after", "details", "message",
     chain.PSEUDONYMS]
)  # fmt: skip


def _append_in_postgresql(events: list[AuditEvent]) -> None:
    sql, params = append_statement(events)
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        appended(events, cursor.fetchall())


def append_statement(events: list[AuditEvent], when: str = "true") -> tuple[str, list]:
    """One statement that appends ``events`` in their order, if the SQL condition ``when``
    holds: the function runs once per row of the VALUES list, in turn, and each call sees
    the rows the earlier ones inserted. It returns each event's sequence, time, previous
    hash and hash."""
    params = []
    for event in events:
        row = {name: getattr(event, name) for name in (*chain.CONTENT_FIELDS, chain.PSEUDONYMS)}
        params += [
            chain.content(row),
            *(row[name] for name in chain.CONTENT_FIELDS[:10]),
            *(_json(row[name]) for name in ("before", "after", "details")),
            row["message"],
            _json(row[chain.PSEUDONYMS]),
        ]
    return _append_sql(len(events), when), params


@functools.lru_cache(maxsize=64)
def _append_sql(count: int, when: str) -> str:
    values = ", ".join(f"({index}, {_ARGUMENTS})" for index in range(count))
    arguments = ", ".join(f"v.{name}" for name in _COLUMNS.split(", "))
    return (
        "SELECT a.sequence, a.occurred_at, a.prev_hash, a.hash FROM ("
        f"SELECT * FROM (VALUES {values}) AS listed(n, {_COLUMNS}) WHERE {when}"
        f") AS v CROSS JOIN LATERAL audit_append({arguments}) AS a ORDER BY v.n"
    )


def appended(events: list[AuditEvent], rows) -> None:
    """Set on ``events`` what the database gave them."""
    for event, (sequence, occurred_at, prev_hash, hash_) in zip(events, rows, strict=True):
        event.sequence, event.occurred_at, event.prev_hash, event.hash = (
            sequence, occurred_at, prev_hash, hash_,
        )  # fmt: skip
        event._state.adding = False
        event._state.db = connection.alias


def _append_here(event: AuditEvent) -> None:
    head = AuditEvent.objects.order_by("-sequence").values("sequence", "hash").first()
    event.sequence = (head["sequence"] + 1) if head else 1
    event.prev_hash = head["hash"] if head else chain.GENESIS_HASH
    event.occurred_at = timezone.now()  # inside the write lock, so times follow sequence
    event.hash = chain.link_hash(event.prev_hash, _row(event))
    event.save(force_insert=True)


def _clipped(text: str, limit: int) -> str:
    """``text``, or its first ``limit - 1`` characters and an ellipsis: it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _target_id(target: models.Model | None) -> str:
    if target is None:
        return ""
    return str(getattr(target, "public_id", None) or target.pk)


def _row(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in chain.READ_FIELDS}


def pseudonym(value: str) -> str:
    """A keyed hash for an identifier that must be linkable but not readable in the trail."""
    key = settings.STEWARD_SUBJECT_INDEX_KEY.encode()
    digest = hmac.new(key, value.strip().lower().encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def remembered_pseudonym() -> Callable[[str], str]:
    """:func:`pseudonym`, remembering the values it has hashed: a walk of the chain meets
    the same names again and again."""
    return functools.lru_cache(maxsize=65_536)(pseudonym)
