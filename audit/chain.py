"""The hash chain: canonical content, link hashes, and verification.

Pure functions over plain values, shared by the writer and the verifier so
they can never disagree on what a row's hash covers.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64

# The columns a row's hash covers, in a fixed order. Adding one is a chain
# format change: old rows must keep verifying under the old list.
CHAINED_FIELDS = (
    "sequence",
    "occurred_at",
    "actor_id",
    "actor_label",
    "request_id",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "target_repr",
    "category",
    "backend",
    "before",
    "after",
    "details",
    "message",
)


def _default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return str(value)


def canonical(row: dict[str, Any]) -> bytes:
    content = {name: row.get(name) for name in CHAINED_FIELDS}
    if isinstance(content["occurred_at"], dt.datetime):
        content["occurred_at"] = _default(content["occurred_at"])
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode()


def link_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(row)).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify(rows: Iterable[dict[str, Any]]) -> ChainReport:
    """Walk rows in sequence order; report the first that does not follow from its predecessor.

    A deleted row shows as a gap in the sequence, an edited row as a hash
    mismatch, a reordered or re-linked row as a ``prev_hash`` that is not its
    predecessor's hash.
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for row in rows:
        seq = row["sequence"]
        if seq != expected_seq:
            return ChainReport(checked, expected_prev, ChainBreak(seq, f"expected #{expected_seq}"))
        if row["prev_hash"] != expected_prev:
            return ChainReport(checked, expected_prev, ChainBreak(seq, "previous hash differs"))
        if link_hash(row["prev_hash"], row) != row["hash"]:
            return ChainReport(checked, expected_prev, ChainBreak(seq, "content hash differs"))
        expected_prev = row["hash"]
        expected_seq += 1
        checked += 1
    return ChainReport(checked, expected_prev, None)
