"""Verifying the trail: the chain walked row by row, held to its signed checkpoints (those
stored beside it, and those of a file kept elsewhere) and to the rows beside it; the result
recorded, and a failure told to the auditors."""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from audit import alerts, chain, signing
from audit.models import AuditCheckpoint, AuditEvent
from audit.services.recording import record, remembered_pseudonym

logger = logging.getLogger(__name__)


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
