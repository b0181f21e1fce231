"""The hash chain: canonical content, link hashes, and verification.

Pure functions over plain values, shared by the writer and the verifier so
they can never disagree on what a row's hash covers.
"""

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS_HASH = "0" * 64

# What a row's hash covers. The sequence and the time come first, outside the
# JSON, so that PostgreSQL can stamp both under the append lock (see the
# audit_append function in migration 0002) while Python serialises the rest.
# Changing any of this is a chain format change: old rows must keep verifying.
CONTENT_FIELDS = (
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
CHAINED_FIELDS = ("sequence", "occurred_at", *CONTENT_FIELDS)

#: The column that marks a row of the second format (None: the first, which hashes every
#: value as it is). It maps each personal value of the row, by its path (a column, or
#: "column.key" in a JSON column), to its keyed hash (audit.services.pseudonym), and the hash
#: covers that keyed hash in the value's place. So the clear value, kept where it always was
#: for the pages and exports, can be replaced by a removal marker (:data:`REMOVED`) and the
#: row still verifies; PostgreSQL allows that change and no other (migration 0008).
PSEUDONYMS = "pseudonyms"
#: Every column a row's hash depends on, as a verifier reads them.
READ_FIELDS = (*CHAINED_FIELDS, PSEUDONYMS)
#: The only paths a row may hold by keyed hash: a person's name (actor, target), a sign-in's
#: IP address, a clearance's email. Any other (a blocked message's reasons, its outcome) is
#: hashed as it is, so a row naming one is unreadable: moved into ``pseudonyms``, any value
#: could otherwise be changed and the row still verify.
PERSONAL_PATHS = frozenset(
    {"actor_label", "target_repr", "details.ip", "before.user_email", "after.user_email"}
)
#: A keyed hash as audit.services.pseudonym writes it.
KEYED_HASH = re.compile(r"[0-9a-f]{32}")
#: What replaces a personal value once it is removed, exactly: "[removed after 400 days]",
#: or "[removed: account erased]". No other text (no prose planted in a name's place).
REMOVED = re.compile(r"\[removed(?: after [0-9]{1,6} days?|: account erased)\]")
#: The break of a row whose clear value is neither its keyed hash's value nor removed.
VALUE_DIFFERS = (
    "a name or address differs from its keyed hash (changed, or STEWARD_SUBJECT_INDEX_KEY is "
    "not the key it was written with)"
)

#: What a reader puts in place of a stored value it cannot decode: JSON that no write of
#: Steward's produced (a number beyond a double, 1e400, which SQLite and PostgreSQL both
#: keep). :func:`content` refuses it, so :func:`verify` reports the row as a break.
UNREADABLE = object()


#: Every float from here up is whole (2**53 < 1e16), written with an exponent (orjson spelt
#: it 1e16 before 3.11.7, 1e+16 since), and given back by PostgreSQL's jsonb as an integer:
#: :func:`as_stored` makes it one, so no hash depends on that spelling.
WHOLE_FLOATS_FROM = 1e16
#: The whole numbers orjson writes (64 bits, signed or not): a hash cannot cover another.
HASHABLE_INTEGERS = range(-(2**63), 2**64)


def as_stored(value: Any) -> Any:
    """JSON (dicts, lists, text, numbers, booleans, None) as the database gives it back: what
    an event's ``before``, ``after`` and ``details`` must be when they are hashed and stored,
    since the verifier hashes what it reads.

    PostgreSQL's jsonb keeps a number as a decimal: it gives -0.0 back as 0.0 and every float
    from :data:`WHOLE_FLOATS_FROM` up as an integer. NaN and the infinities are no JSON: orjson
    writes null, and so does this. Object keys come back as text, in the spelling of Python's
    json, which stores them. Every other value is returned as it is: jsonb gives any other float
    back as the decimal Python wrote for it (1e-07 as 0.0000001), which reads back as the same
    float, so events written before this verify as they did.

    Raises ValueError for a number beyond :data:`HASHABLE_INTEGERS`.
    """
    if isinstance(value, str):  # the most frequent first: every event is recorded this way
        return value
    if isinstance(value, float):
        return _stored_float(value)
    if isinstance(value, dict):
        return {
            key if isinstance(key, str) else _stored_key(key): as_stored(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [as_stored(item) for item in value]
    if isinstance(value, int) and value not in HASHABLE_INTEGERS:
        raise _beyond(value)
    return value


def _stored_float(number: float) -> float | int | None:
    if not math.isfinite(number):
        return None
    if abs(number) < WHOLE_FLOATS_FROM:
        return 0.0 if number == 0 else number
    whole = int(number)
    if whole not in HASHABLE_INTEGERS:
        raise _beyond(number)
    return whole


def _stored_key(key: Any) -> Any:
    # Keys of other types are no JSON: storing the event refuses them.
    return json.dumps(key) if isinstance(key, int | float | None) else key


def _beyond(number: float) -> ValueError:
    return ValueError(
        f"{number!r} is beyond the whole numbers the audit trail can hash "
        "(from -2**63 to 2**64 - 1): record it as text"
    )


def content(row: dict[str, Any]) -> bytes:
    """The JSON of the row's content fields: sorted keys, no spaces, UTF-8.

    orjson, for speed (verification serialises every row); its output is the
    same bytes as ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` for the plain JSON values audit events hold.
    """
    values = {name: row.get(name) for name in CONTENT_FIELDS}
    pseudonyms = row.get(PSEUDONYMS)
    if pseudonyms is not None:
        if not isinstance(pseudonyms, dict) or not pseudonyms:
            raise TypeError("pseudonyms must map paths to keyed hashes")
        for path, keyed in pseudonyms.items():
            _put(values, path, keyed)
        # Which values it holds by keyed hash is hashed too: a row cannot change format, nor
        # hold one more value so.
        values[PSEUDONYMS] = sorted(pseudonyms)
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _put(values: dict[str, Any], path: str, keyed: Any) -> None:
    """Put ``keyed`` at ``path`` in ``values``, copying the JSON column it goes in. TypeError
    (the verifier's "unreadable content") for a path that is not a person's value
    (:data:`PERSONAL_PATHS`), or a value that is no keyed hash."""
    if path not in PERSONAL_PATHS:
        raise TypeError(f"{path!r} is not a personal value")
    if not isinstance(keyed, str) or not KEYED_HASH.fullmatch(keyed):
        raise TypeError(f"{path!r} holds no keyed hash")
    column, _, key = path.partition(".")
    if not key:
        values[column] = keyed
    elif isinstance(values[column], dict):
        values[column] = {**values[column], key: keyed}
    else:
        raise TypeError(f"{column} holds no {key!r}")


def value_at(row: dict[str, Any], path: str) -> Any:
    """The clear value at ``path`` ("actor_label", "details.ip"), None where there is none."""
    column, _, key = path.partition(".")
    value = row.get(column)
    if not key:
        return value
    return value.get(key) if isinstance(value, dict) else None


def is_removed(value: Any) -> bool:
    return isinstance(value, str) and REMOVED.fullmatch(value) is not None


def values_differ(row: dict[str, Any], keyed: Callable[[str], str]) -> bool:
    """Whether a personal value still in clear is not the one its keyed hash was made from
    (``keyed``: the key's hash function). Only Steward, holding the key, can tell."""
    for path, expected in (row.get(PSEUDONYMS) or {}).items():
        value = value_at(row, path)
        if is_removed(value):
            continue
        if not isinstance(value, str) or keyed(value) != expected:
            return True
    return False


def stamp(moment: dt.datetime) -> str:
    """The time as the hash covers it: 2026-11-23T10:55:00.000123, in UTC.

    PostgreSQL writes the same with to_char(t AT TIME ZONE 'UTC', STAMP_SQL).
    """
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat("T", "microseconds")


STAMP_SQL = 'YYYY-MM-DD"T"HH24:MI:SS.US'


def link_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 of the previous hash, the sequence, the UTC time and the content.

    ``row["occurred_at"]`` is a datetime, or already its :func:`stamp` text.
    """
    at = row["occurred_at"]
    head = f"{prev_hash}\n{row['sequence']}\n{at if isinstance(at, str) else stamp(at)}\n".encode()
    return hashlib.sha256(head + content(row)).hexdigest()


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


def verify(
    rows: Iterable[dict[str, Any]], keyed: Callable[[str], str] | None = None
) -> ChainReport:
    """Walk rows in sequence order; report the first that does not follow from its predecessor.

    A deleted row shows as a gap in the sequence, an edited row as a hash
    mismatch, a reordered or re-linked row as a ``prev_hash`` that is not its
    predecessor's hash. A row edited so that its content cannot be read back
    (:data:`UNREADABLE` in place of a value) is a break too. With ``keyed`` (the
    subject index key's hash), so is a personal value swapped for another
    (:func:`values_differ`): the hash covers only its keyed hash.
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
        try:
            computed = link_hash(row["prev_hash"], row)
        except TypeError:  # orjson's refusal: UNREADABLE, or a value JSON cannot hold
            return ChainReport(checked, expected_prev, ChainBreak(seq, "unreadable content"))
        if computed != row["hash"]:
            return ChainReport(checked, expected_prev, ChainBreak(seq, "content hash differs"))
        if keyed is not None and values_differ(row, keyed):
            return ChainReport(checked, expected_prev, ChainBreak(seq, VALUE_DIFFERS))
        expected_prev = row["hash"]
        expected_seq += 1
        checked += 1
    return ChainReport(checked, expected_prev, None)
