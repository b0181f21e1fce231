"""Writing to the audit trail. Callers use :func:`record`; a path that writes rows with their
events can have them appended in the same statement as an update (:func:`update_and_record`)
or with its inserts (:class:`audit.writes.Writes`)."""

import contextvars
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.utils import timezone

from audit import alerts, chain, signing
from audit.models import AuditCheckpoint, AuditEvent
from config.middleware import current_request_id
from config.prepared import prepared_cursor

logger = logging.getLogger(__name__)
#: Each checkpoint's exported line as it is signed, for operators to route off the machine.
copies_logger = logging.getLogger("steward.audit.checkpoints")

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


def iter_chain_rows(batch_size: int = 10_000):
    """Every event's chained columns and hashes as dicts, in sequence order.

    Raw keyset-paged SQL rather than the ORM: verification reads every row,
    and the ORM's per-row conversions would be most of its cost. On
    PostgreSQL the time arrives already as the text the hash covers. The first
    batch starts at the lowest sequence present, whatever it is: a row slipped
    in below #1 is read too, and :func:`audit.chain.verify` reports it.
    """
    columns = [*chain.READ_FIELDS, "prev_hash", "hash"]
    selected = list(columns)
    if connection.vendor == "postgresql":
        selected[1] = f"to_char(occurred_at AT TIME ZONE 'UTC', '{chain.STAMP_SQL}')"
    select = f"SELECT {', '.join(selected)} FROM audit_auditevent"
    batch = _fetch(f"{select} ORDER BY sequence LIMIT %s", [batch_size])
    while batch:
        for values in batch:
            yield _typed(dict(zip(columns, values, strict=True)))
        batch = _fetch(
            f"{select} WHERE sequence > %s ORDER BY sequence LIMIT %s", [batch[-1][0], batch_size]
        )


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """Decode what raw rows carry as text: JSON (Django leaves that to JSONField) and
    SQLite's naive UTC timestamps. JSON that cannot be decoded becomes
    :data:`audit.chain.UNREADABLE`, for the verifier to report."""
    for name in ("before", "after", "details", chain.PSEUDONYMS):
        value = row[name]
        if value == "{}":
            row[name] = {}
        elif isinstance(value, str):
            try:
                row[name] = orjson.loads(value)
            except orjson.JSONDecodeError:
                row[name] = chain.UNREADABLE
    at = row["occurred_at"]
    if isinstance(at, str) and " " in at:  # SQLite: "2026-11-23 10:55:00[.000123]"
        row["occurred_at"] = dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC)
    return row


def head() -> dict[str, Any] | None:
    """The newest event's sequence, hash and time, or None for an empty trail."""
    return (
        AuditEvent.objects.order_by("-sequence").values("sequence", "hash", "occurred_at").first()
    )


def create_checkpoint() -> AuditCheckpoint | None:
    """Sign the current head; the checkpoint itself is then recorded as an event."""
    current = head()
    if current is None:
        return None
    with transaction.atomic():
        checkpoint = AuditCheckpoint(
            sequence=current["sequence"],
            head_hash=current["hash"],
            created_at=timezone.now(),
            key_id=signing.key_id(signing.public_key_text()),
        )
        checkpoint.signature = signing.sign(checkpoint.payload())
        checkpoint.save()
        record(
            action=AuditEvent.Action.AUDIT_CHECKPOINT,
            actor_label="system",
            details={"sequence": checkpoint.sequence, "key_id": checkpoint.key_id},
        )
        # Robust: the checkpoint is committed by then, and a copy that fails must not raise
        # out of beat's task (keep_copy says so itself; this is for what it cannot catch).
        transaction.on_commit(functools.partial(keep_copy, checkpoint), robust=True)
    return checkpoint


def keep_copy(checkpoint: AuditCheckpoint) -> None:
    """Ship a committed checkpoint off the machine: its exported line is logged on
    ``steward.audit.checkpoints`` and appended to ``STEWARD_AUDIT_CHECKPOINT_FILE``.

    Someone who owns the database can cut the trail just after a checkpoint's own event,
    with the checkpoint rows past it, and every check inside the database passes: only a
    copy they cannot rewrite catches that. A copy that cannot be written loses nothing (the
    checkpoint stands): it is logged, told to the auditors and recorded.
    """
    line = _export_line(checkpoint, signing.public_key_text())
    copies_logger.info("%s", line.rstrip("\n"))
    path = settings.STEWARD_AUDIT_CHECKPOINT_FILE
    if not path:
        return
    try:
        _append_durably(path, line)
    except OSError as exc:
        _copy_failed(checkpoint, exc)


class NotARegularFile(OSError):
    """STEWARD_AUDIT_CHECKPOINT_FILE names a FIFO, a device or a socket, not a file."""


def _append_durably(path: str, line: str) -> None:
    """Append ``line`` and wait until it is on the disk: the copy is worth nothing if a crash
    an instant later loses it.

    Opened without blocking, and refused unless it is a regular file: a FIFO nobody reads
    would hold the worker's thread forever, and each checkpoint beat sends after it another.
    A line torn by a crash mid-append gets its newline first, so that this one is whole.
    """
    copy = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o640)
    try:
        status = os.fstat(copy)
        if not stat.S_ISREG(status.st_mode):
            raise NotARegularFile(path)
        data = line.encode()
        if status.st_size and not _ends_whole(path, status.st_size):
            data = b"\n" + data
        while data:
            data = data[os.write(copy, data) :]
        os.fsync(copy)
    finally:
        os.close(copy)


def _ends_whole(path: str, size: int) -> bool:
    """Whether the copy's last byte is a newline. Read through a descriptor of its own (the
    copy is opened write-only, as a write-once mount may insist); unreadable, it is taken as
    whole, as it was before this check."""
    try:
        copy = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return True
    try:
        return os.pread(copy, 1, size - 1) == b"\n"
    except OSError:
        return True
    finally:
        os.close(copy)


def _copy_failed(checkpoint: AuditCheckpoint, exc: OSError) -> None:
    # The exception's text names the path: its type only, as everywhere.
    error = type(exc).__name__
    logger.error(
        "The checkpoint at #%s was not copied to STEWARD_AUDIT_CHECKPOINT_FILE (%s).",
        checkpoint.sequence,
        error,
    )
    mailed = alerts.checkpoint_copy_failed(checkpoint.sequence, error)
    record(
        action=AuditEvent.Action.AUDIT_EXPORTED,
        actor_label="system",
        outcome=AuditEvent.Outcome.FAILURE,
        details={
            "what": COPY_WHAT,
            "sequence": checkpoint.sequence,
            "error": error,
            "auditors_mailed": mailed,
        },
        message="checkpoint not copied to STEWARD_AUDIT_CHECKPOINT_FILE",
    )


#: ``details["what"]`` of the event that records a copy that could not be written.
COPY_WHAT = "checkpoint copy"


def checkpoint_line(checkpoint: AuditCheckpoint, public_key: str) -> dict[str, Any]:
    """A checkpoint as it is exported: payload, signature and the key to check it with."""
    return {**checkpoint.payload(), "signature": checkpoint.signature, "public_key": public_key}


def _export_line(checkpoint: AuditCheckpoint, public_key: str) -> str:
    return json.dumps(checkpoint_line(checkpoint, public_key)) + "\n"


def checkpoint_lines() -> Iterator[str]:
    """Every checkpoint, oldest first, as JSON Lines (each with the key that signed it)."""
    trusted = signing.trusted_public_keys()
    for checkpoint in AuditCheckpoint.objects.order_by("sequence", "created_at"):
        yield _export_line(checkpoint, trusted.get(checkpoint.key_id, ""))


#: The longest line read as a checkpoint (Steward writes about 330 characters): longer, it
#: is refused before it is parsed, so no field of it can be megabytes long.
MAX_CHECKPOINT_LINE = 2048
#: The highest sequence a checkpoint may name: the trail's column is a 64-bit integer.
MAX_SEQUENCE = 2**63 - 1


def _is_sequence(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_SEQUENCE  # bool is an int: not one


def _spelled(pattern: str) -> Callable[[Any], bool]:
    compiled = re.compile(pattern)
    return lambda value: isinstance(value, str) and compiled.fullmatch(value) is not None


def _is_moment(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        return dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


#: Each field a checkpoint line needs, its test, and what it must be, in words. Only fields
#: that pass are kept: none of the file's own text reaches the trail, a log or a mail.
_CHECKPOINT_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "sequence": (_is_sequence, f"a whole number from 1 to {MAX_SEQUENCE}"),
    "head_hash": (_spelled(r"[0-9a-f]{64}"), "64 lowercase hexadecimal digits"),
    "created_at": (_is_moment, "a date and time in ISO 8601 with its offset from UTC"),
    # signing.key_id: the first 16 hexadecimal digits of the public key's SHA-256.
    "key_id": (_spelled(r"[0-9a-f]{16}"), "16 lowercase hexadecimal digits"),
    # An Ed25519 signature is 64 bytes: 86 characters of URL-safe base64, unpadded.
    "signature": (_spelled(r"[A-Za-z0-9_-]{86}"), "86 characters of URL-safe base64"),
}


def read_checkpoint_lines(text: str) -> list[dict[str, Any]]:
    """The checkpoints of a JSON Lines file kept elsewhere (blank lines skipped), each with
    the number of its ``line`` in the file.

    Raises ValueError, in words, naming the first line that is not a checkpoint: a file
    that is no checkpoints file (the trail's own export, say) must be refused as such,
    not held against the trail, where each of its lines would read as a forgery. Each
    field must be as Steward writes it (:data:`_CHECKPOINT_FIELDS`): whoever uploads the
    file chose every byte of it, and what the check says (page, trail, log, mail) quotes its
    fields. The refusal never quotes the file.
    """
    checkpoints = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_CHECKPOINT_LINE:
            raise ValueError(
                f"Line {number} is not a checkpoint: it is over {MAX_CHECKPOINT_LINE:,} "
                "characters long."
            )
        try:
            checkpoint = json.loads(line)
        except (ValueError, RecursionError):  # ValueError: a number too long for int() too
            raise ValueError(f"Line {number} is not valid JSON.") from None
        if not isinstance(checkpoint, dict):
            raise ValueError(_lacking(number))
        checkpoints.append({**_checkpoint_fields(checkpoint, number), "line": number})
    if not checkpoints:
        raise ValueError("The file holds no checkpoint: nothing to hold the trail to.")
    return checkpoints


def _checkpoint_fields(checkpoint: dict, number: int) -> dict[str, Any]:
    """The fields of line ``number`` that make a checkpoint, each checked; ValueError
    naming the first that is missing or not as Steward writes it."""
    for name, (valid, spelled) in _CHECKPOINT_FIELDS.items():
        if name not in checkpoint:
            raise ValueError(_lacking(number))
        if not valid(checkpoint[name]):
            raise ValueError(f"Line {number} is not a checkpoint: its {name} must be {spelled}.")
    return {name: checkpoint[name] for name in _CHECKPOINT_FIELDS}


def _lacking(number: int) -> str:
    return (
        f"Line {number} is not a checkpoint: each line needs "
        f"{', '.join(_CHECKPOINT_FIELDS)}, as Download all checkpoints writes them."
    )


#: A checkpoint past the chain's last event: events were cut off its end.
ENDS_BEFORE = "the chain ends before it (rows removed)"


@dataclass(frozen=True)
class TrailCheck:
    """What holding the trail to its signed checkpoints found, kept apart by what it shows."""

    report: chain.ChainReport
    #: The trail's: what the chain, the checkpoints stored beside it and its rows show.
    problems: list[str]
    #: The trail's too, shown by a validly signed checkpoint of the file given.
    disagreements: list[str]
    #: The file's own: its lines whose signature does not verify (not held).
    unverified: list[str]

    @property
    def intact(self) -> bool:
        return self.report.intact and not (self.problems or self.disagreements or self.unverified)


def check_trail(
    *, kept: list[dict[str, Any]] | None = None, public_key: str | None = None
) -> TrailCheck:
    """Walk the chain, then hold against it every checkpoint stored beside it and those of
    ``kept``, a file's lines (:func:`read_checkpoint_lines`); and the trail against the
    rows beside it (:func:`_missing`).

    Each checkpoint must carry a valid signature by ``public_key`` (the file's, or without
    a file the database's), or by default by the trusted key its ``key_id`` names (the
    current signing key or one in ``STEWARD_AUDIT_TRUSTED_KEYS``), and name a sequence
    whose hash in the chain is its ``head_hash``. The stored checkpoints are held whatever
    the file: whoever gives the file chooses it, and an old one must not stand in for a
    stored checkpoint changed since.
    """
    trusted = signing.trusted_public_keys()
    stored = list(AuditCheckpoint.objects.all())  # before the walk, which meets their events
    held: dict[int, dict[str, int]] = {}  # sequence: {head_hash: its line in the file, 0: stored}
    problems, disagreements, unverified = [], [], []
    stored_key = public_key if kept is None else None
    for checkpoint in stored:
        key = stored_key or trusted.get(checkpoint.key_id)
        if why := _unsigned(checkpoint.payload(), checkpoint.signature, key):
            problems.append(why)
        else:
            held.setdefault(checkpoint.sequence, {}).setdefault(checkpoint.head_hash, 0)
    for index, line in enumerate(kept or [], start=1):
        number = line.get("line", index)  # read_checkpoint_lines numbers the file's lines
        payload = {k: line[k] for k in ("sequence", "head_hash", "created_at", "key_id")}
        # Never the line's own public_key: whoever forged the line would have written it.
        key = public_key or trusted.get(line["key_id"])
        if why := _unsigned(payload, line["signature"], key):
            unverified.append(f"your file does not verify at line {number} ({why})")
        else:
            held.setdefault(line["sequence"], {}).setdefault(line["head_hash"], number)
    recorded: dict[int, Any] = {}  # each audit.checkpoint event's sequence: its details

    def found(sequence: int, line: int, what: str) -> None:
        where = f" (line {line} of your file)" if line else ""
        (disagreements if line else problems).append(f"checkpoint at #{sequence}{where}: {what}")

    def rows_with_checkpoints():
        for row in iter_chain_rows():
            for head_hash, line in held.pop(row["sequence"], {}).items():
                if head_hash != row["hash"]:
                    found(row["sequence"], line, "the chain's hash there differs")
            if row["action"] == AuditEvent.Action.AUDIT_CHECKPOINT:
                recorded[row["sequence"]] = row["details"]
            yield row

    report = chain.verify(rows_with_checkpoints(), keyed=remembered_pseudonym())
    if report.intact:
        for sequence in sorted(held):
            for line in held[sequence].values():
                found(sequence, line, ENDS_BEFORE)
        problems += _missing(report.checked, stored, recorded)
    # A stored checkpoint may be named twice (beyond the head, and without its event).
    return TrailCheck(
        report, list(dict.fromkeys(problems)), list(dict.fromkeys(disagreements)), unverified
    )


def _unsigned(payload: dict[str, Any], signature: str, key: str | None) -> str | None:
    """Why a checkpoint's signature does not hold (None: it does), in a sentence."""
    if key is None:
        return (
            f"checkpoint at #{payload['sequence']}: signed by key {payload['key_id']}, "
            "neither the current signing key nor one in STEWARD_AUDIT_TRUSTED_KEYS"
        )
    if not signing.verify(payload, signature, key):
        return f"checkpoint at #{payload['sequence']}: signature does not verify"
    return None


def verify_trail(
    *, checkpoints: list[dict[str, Any]] | None = None, public_key: str | None = None
) -> tuple[chain.ChainReport, list[str]]:
    """:func:`check_trail`'s chain report and one sentence per problem it found, the file's
    own first: a checkpoint that does not match, checkpoint rows or events removed."""
    check = check_trail(kept=checkpoints, public_key=public_key)
    return check.report, check.unverified + check.disagreements + check.problems


def _missing(head: int, stored: list[AuditCheckpoint], recorded: dict[int, Any]) -> list[str]:
    """What an intact chain cannot show by itself: events cut off its end, checkpoint rows
    removed with them or on their own, the whole trail emptied. One sentence per problem.

    ``head`` is the intact chain's last sequence (0: empty); ``stored``, the checkpoint rows
    read before the walk; ``recorded``, the details of each ``audit.checkpoint`` event the
    walk met. A checkpoint's row and its event are written in one transaction, the event
    after the head the row signs, so:

    1. every row read before the walk has its event in the chain, after the row's sequence;
    2. every such event has its row, read after the walk (so a checkpoint signed during the
       walk is not taken for a removed one), signed with the key the event names;
    3. an empty trail is a fresh install's only: accounts or conversations were recorded.
    """
    problems = []
    recorded_checkpoints = {
        details.get("sequence"): (sequence, details.get("key_id"))
        for sequence, details in recorded.items()
        if isinstance(details, dict)
    }
    for checkpoint in sorted(stored, key=lambda c: c.sequence):
        if checkpoint.sequence in recorded_checkpoints:
            continue
        if checkpoint.sequence > head:
            problems.append(f"checkpoint at #{checkpoint.sequence}: {ENDS_BEFORE}")
        elif checkpoint.sequence == head:
            problems.append(
                f"checkpoint at #{checkpoint.sequence}: the chain ends there, without the event "
                "that recorded the checkpoint after it (events cut off the end)"
            )
        else:
            problems.append(
                f"checkpoint at #{checkpoint.sequence}: no audit.checkpoint event in the chain "
                "records it (the row was added, or the events after it rewritten)"
            )
    rows: dict[int, set[str]] = {}
    for sequence, key_id in AuditCheckpoint.objects.values_list("sequence", "key_id"):
        rows.setdefault(sequence, set()).add(key_id)
    removed = []
    for sequence, (event, key_id) in sorted(recorded_checkpoints.items(), key=lambda i: i[1]):
        if sequence not in rows:
            removed.append(f"#{sequence} (event #{event})")
        elif key_id not in rows[sequence]:
            problems.append(
                f"checkpoint at #{sequence}: event #{event} records it signed by key {key_id}, "
                f"the row there names {', '.join(sorted(rows[sequence]))} (the row was replaced)"
            )
    if removed:
        listed = ", ".join(removed[:3]) + (f" and {len(removed) - 3} more" if removed[3:] else "")
        problems.append(
            f"{len(removed)} checkpoint{'s' if len(removed) != 1 else ''} the trail records "
            f"{'have' if len(removed) != 1 else 'has'} no checkpoint row (rows removed): {listed}"
        )
    if head == 0 and (held := _recorded_elsewhere()):
        problems.append(
            f"the trail is empty, yet the database holds {held}: its events were removed"
        )
    return problems


def _recorded_elsewhere() -> str:
    """What the database holds whose making the trail would have recorded: "" for nothing."""
    accounts = get_user_model().objects.count()
    held = [f"{accounts} account{'s' if accounts != 1 else ''}"] if accounts else []
    if apps.get_model("chat", "Conversation").objects.exists():
        held.append("conversations")
    return " and ".join(held)


def stale_checkpoints() -> str | None:
    """A warning when checkpoints have stopped, or None.

    Stale: the newest checkpoint (or, with none, the trail's first event) is older than
    twice beat's interval, and events were written since that no checkpoint covers (not
    counting audit.checkpoint events, which follow the head they sign). A warning, not a
    failure: nothing is shown changed, only the newest events are held to no signed head
    yet, which is also what a Steward stopped for a while and just started looks like.
    """
    interval = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]["schedule"]
    newest = AuditCheckpoint.objects.order_by("-sequence", "-created_at").first()
    unsigned = (
        AuditEvent.objects.filter(sequence__gt=newest.sequence if newest else 0)
        .exclude(action=AuditEvent.Action.AUDIT_CHECKPOINT)
        .order_by("sequence")
        .values("sequence", "occurred_at")
        .first()
    )
    if unsigned is None:
        return None
    since = newest.created_at if newest else unsigned["occurred_at"]
    if timezone.now() - since <= dt.timedelta(seconds=2 * interval):
        return None
    when = timezone.localtime(since).strftime("%Y-%m-%d %H:%M %Z")
    minutes = f"{interval / 60:g}-minute"
    if newest is None:
        return (
            f"checkpoints have stopped: none was ever signed, though the trail began {when}, "
            f"over twice the {minutes} interval ago: is beat running?"
        )
    return (
        f"checkpoints have stopped: the newest (#{newest.sequence}, {when}) is over twice the "
        f"{minutes} interval old, and events from #{unsigned['sequence']} on are signed by "
        "none: is beat running?"
    )


def run_verification(*, actor=None) -> AuditEvent:
    """Verify chain and checkpoints, and record the result as an event: the trail's own
    verification, whose last result is the chain panel's verdict.

    A verification that cannot finish is recorded as a failure naming the error (the
    traceback goes to the log): the chain panel shows that, not the last "intact". Stale
    checkpoints are recorded as a warning beside the result, which they do not change.
    """
    try:
        report, problems = verify_trail()
        warning = stale_checkpoints()
    except Exception as exc:
        verification = _could_not_finish(actor, exc)
        _tell_auditors(verification)
        return verification
    intact = report.intact and not problems
    # "checkpoint_problems": every problem besides the chain's first break (the key is older
    # than the problems that are not about a checkpoint).
    details: dict[str, Any] = {
        "checked": report.checked, "checkpoint_problems": problems[:20], **_first_break(report),
    }  # fmt: skip
    if warning:
        details["warnings"] = [warning]
    verification = record(
        action=AuditEvent.Action.AUDIT_VERIFIED,
        actor=actor,
        actor_label="" if actor else "system",
        outcome=AuditEvent.Outcome.SUCCESS if intact else AuditEvent.Outcome.FAILURE,
        details=details,
        message="chain intact" if intact else "chain broken",
    )
    if not intact:
        _tell_auditors(verification)
    return verification


#: ``details["source"]`` of the check of a checkpoints file an auditor uploaded.
UPLOAD = "upload"


def check_uploaded_copy(*, actor, checkpoints: list[dict[str, Any]]) -> AuditEvent:
    """Hold the trail against a checkpoints file ``actor`` uploaded (its lines,
    :func:`read_checkpoint_lines`), and record the check; the event says how many lines,
    never what they hold beyond the fields checked.

    Not the trail's verification: the file is the uploader's choice. So the stored
    checkpoints are held too (an old file cannot mask one changed since); the check is
    recorded apart (``"source": "upload"``), never the chain panel's verdict; a line whose
    signature does not verify is the file's problem, told on the page only. Only a validly
    signed checkpoint of the file that the trail does not hold is mailed to the auditors,
    naming the upload and its uploader: what the stored checkpoints show, the trail's own
    verification tells.
    """
    upload = {"source": UPLOAD, "kept_checkpoints": len(checkpoints)}
    try:
        check = check_trail(kept=checkpoints)
    except Exception as exc:
        return _could_not_finish(actor, exc, upload)
    details = {
        **upload,
        "checked": check.report.checked,
        "checkpoint_problems": check.problems[:20],
        "kept_problems": check.disagreements[:20],
        "unverified_lines": len(check.unverified),
        "file_problems": check.unverified[:20],
        **_first_break(check.report),
    }
    event = record(
        action=AuditEvent.Action.AUDIT_VERIFIED,
        actor=actor,
        outcome=AuditEvent.Outcome.SUCCESS if check.intact else AuditEvent.Outcome.FAILURE,
        details=details,
        message=_upload_outcome(check),
    )
    if check.disagreements:
        _tell_auditors(event, alerts.uploaded_copy_disagrees)
    return event


def _upload_outcome(check: TrailCheck) -> str:
    if check.disagreements:
        return "uploaded checkpoints: the trail does not hold them"
    if check.problems or not check.report.intact:
        return "uploaded checkpoints: chain broken"
    if check.unverified:
        return "uploaded checkpoints: the file does not verify"
    return "uploaded checkpoints: held"


def _first_break(report: chain.ChainReport) -> dict[str, Any]:
    if report.first_break is None:
        return {}
    return {"first_bad_sequence": report.first_break.sequence, "reason": report.first_break.reason}


def _could_not_finish(actor, exc: Exception, details: dict[str, Any] | None = None) -> AuditEvent:
    logger.exception("audit verification could not finish")
    return record(
        action=AuditEvent.Action.AUDIT_VERIFIED,
        actor=actor,
        actor_label="" if actor else "system",
        outcome=AuditEvent.Outcome.FAILURE,
        details={"error": type(exc).__name__, **(details or {})},
        message="verification could not finish",
    )


def _tell_auditors(
    verification: AuditEvent, tell: Callable[[AuditEvent], int] | None = None
) -> None:
    """Log and mail a failed verification (``tell``: by default as the trail's own); a mail
    sent is recorded, with how many it reached."""
    if recipients := (tell or alerts.verification_failed)(verification):
        record(
            action=AuditEvent.Action.AUDIT_ALERTED,
            actor_label="system",
            details={"verification": verification.sequence, "recipients": recipients},
        )
