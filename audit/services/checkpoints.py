"""Checkpoints of the chain: its head signed by beat (:func:`create_checkpoint`), each one
copied off the machine once committed (:func:`keep_copy`), exported as JSON Lines, and read
back from a file kept elsewhere (:func:`read_checkpoint_lines`)."""

import datetime as dt
import functools
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import alerts, signing
from audit.models import AuditCheckpoint, AuditEvent
from audit.services.recording import record

logger = logging.getLogger(__name__)
#: Each checkpoint's exported line as it is signed, for operators to route off the machine.
copies_logger = logging.getLogger("steward.audit.checkpoints")


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
