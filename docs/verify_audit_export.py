"""Check a Steward audit export and its signed checkpoints without Steward's code.

    python3 verify_audit_export.py EXPORT.jsonl --checkpoints CHECKPOINTS.jsonl --public-key=KEY

EXPORT.jsonl: the audit trail exported unfiltered as JSON Lines. CHECKPOINTS.jsonl: the
checkpoints downloaded from the Checkpoints page (or ``manage.py audit_checkpoint --export``).
KEY: the public key you were given for checking them, apart from these files; repeat
``--public-key`` for each key the signing key replaced. Write ``--public-key=KEY``, with
"=": a key may begin with "-".

Exits 0 when every event follows from the one before it and every checkpoint is signed by
a key given and holds the export's hash at its event; otherwise 1, naming what did not.
A person's name or address is hashed by its keyed hash (``pseudonyms``): that the clear
value is the one hashed takes the key, which Steward's own verification holds.
Python 3.11+ and, for checkpoints, the ``cryptography`` package. The format is specified
in audit-verification.md beside this file.
"""

import argparse
import base64
import datetime as dt
import hashlib
import json
import re
import sys

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "actor_id", "actor_label", "request_id", "action", "outcome", "target_type", "target_id",
    "target_repr", "category", "backend", "before", "after", "details", "message",
)  # fmt: skip
EVENT_FIELDS = ("sequence", "occurred_at", *HASHED_FIELDS, "prev_hash", "hash")
SIGNED_FIELDS = ("sequence", "head_hash", "created_at", "key_id")
CHECKPOINT_FIELDS = {*SIGNED_FIELDS, "signature", "public_key"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?(Z|[+-]\d\d:\d\d)")
#: The only values an event may hold by keyed hash, and what a keyed hash looks like.
PERSONAL_PATHS = {
    "actor_label",
    "target_repr",
    "details.ip",
    "before.user_email",
    "after.user_email",
}
KEYED_HASH = re.compile(r"[0-9a-f]{32}")


class Unreadable(Exception):
    """A line that is not what the format says."""


def stamp(occurred_at: str) -> str:
    """The event's time as its hash covers it: UTC, six fraction digits, no offset."""
    try:
        if not TIMESTAMP.fullmatch(occurred_at):
            raise ValueError
        moment = dt.datetime.fromisoformat(occurred_at).astimezone(dt.UTC)
    except (TypeError, ValueError):  # not text, not the pattern, or not a day (month 13)
        raise Unreadable(f"occurred_at {occurred_at!r} is no ISO 8601 time with offset") from None
    return moment.replace(tzinfo=None).isoformat("T", "microseconds")


def float_text(value: float) -> str:
    """A float as Steward's JSON writer (orjson) spells it: Python's repr, but 1e-05 is
    0.00001 and an exponent is written e+16 or e-7."""
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if int(exponent) == -5:
        sign = "-" if mantissa.startswith("-") else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e{int(exponent):+d}"


def canonical(value) -> str:
    """JSON with sorted keys, no spaces, non-ASCII characters as they are."""
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{canonical(k)}:{canonical(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    if isinstance(value, float):
        return float_text(value)
    return json.dumps(value, ensure_ascii=False)


def hashed_fields(event: dict) -> dict:
    """The hashed fields, each value that ``pseudonyms`` names (by its path: a field, or
    "field.key" in an object; only a person's values, PERSONAL_PATHS) replaced by its keyed
    hash there, and the list of those paths: the hash covers both, so the clear value can
    be removed. An event without ``pseudonyms`` (or with null) hashes every value."""
    fields = {name: event[name] for name in HASHED_FIELDS}
    pseudonyms = event.get("pseudonyms")
    if pseudonyms is None:
        return fields
    if not isinstance(pseudonyms, dict) or not pseudonyms:
        raise Unreadable("pseudonyms is not an object of keyed hashes")
    for path, keyed in pseudonyms.items():
        name, _, key = path.partition(".")
        if path not in PERSONAL_PATHS or (key and not isinstance(fields[name], dict)):
            raise Unreadable(f"pseudonyms names {path!r}, which is no person's value here")
        if not isinstance(keyed, str) or not KEYED_HASH.fullmatch(keyed):
            raise Unreadable(f"pseudonyms holds no keyed hash for {path!r}")
        fields[name] = {**fields[name], key: keyed} if key else keyed
    fields["pseudonyms"] = sorted(pseudonyms)
    return fields


def event_hash(prev_hash: str, event: dict) -> str:
    """SHA-256 of the previous hash, the sequence, the UTC time and the hashed fields."""
    head = f"{prev_hash}\n{event['sequence']}\n{stamp(event['occurred_at'])}\n"
    content = canonical(hashed_fields(event))
    return hashlib.sha256((head + content).encode()).hexdigest()


def key_id(public_key: str) -> str:
    """The key's fingerprint as checkpoints name it: from its text, not its bytes."""
    return hashlib.sha256(public_key.encode()).hexdigest()[:16]


def signed_payload(checkpoint: dict) -> bytes:
    payload = {name: checkpoint[name] for name in SIGNED_FIELDS}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def b64decode(text: str) -> bytes:
    """URL-safe base64 without padding; any other spelling of the same bytes is refused."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
        raise ValueError("not unpadded URL-safe base64")
    return raw


def read_lines(path: str) -> list[dict]:
    with open(path, "rb") as file:
        lines = file.read().split(b"\n")
    objects = []
    for line_number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError both are
            raise Unreadable(f"{path}, line {line_number}: {exc}") from None
        if not isinstance(value, dict):
            raise Unreadable(f"{path}, line {line_number}: not a JSON object")
        objects.append(value)
    return objects


def check_chain(events: list[dict]) -> tuple[dict[int, str], str | None]:
    """Each event's hash by sequence, up to the first event that does not follow from the
    one before it, and what is wrong with that one (None: nothing)."""
    hashes: dict[int, str] = {}
    expected_prev, expected_sequence = GENESIS_HASH, 1
    for event in events:
        missing = [name for name in EVENT_FIELDS if name not in event]
        if missing:
            return hashes, f"event #{event.get('sequence')}: no {', '.join(missing)}"
        sequence = event["sequence"]
        if sequence != expected_sequence:
            return hashes, f"event #{sequence}: expected #{expected_sequence} (events missing?)"
        if event["prev_hash"] != expected_prev:
            return hashes, f"event #{sequence}: its prev_hash is not the previous event's hash"
        try:
            if event_hash(expected_prev, event) != event["hash"]:
                return hashes, f"event #{sequence}: content differs from what its hash covers"
        except Unreadable as exc:
            return hashes, f"event #{sequence}: {exc}"
        hashes[sequence] = expected_prev = event["hash"]
        expected_sequence += 1
    return hashes, None


def load_keys(texts: list[str]) -> dict:
    """The Ed25519 public keys given, by key id; ValueError for a text that spells none."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return {key_id(text): Ed25519PublicKey.from_public_bytes(b64decode(text)) for text in texts}


def check_checkpoints(checkpoints: list[dict], keys: dict, hashes: dict[int, str]) -> list[str]:
    """What is wrong with each checkpoint: its signature, or the chain it vouches for."""
    from cryptography.exceptions import InvalidSignature

    problems = []
    for checkpoint in checkpoints:
        where = f"checkpoint at #{checkpoint.get('sequence')}"
        if set(checkpoint) != CHECKPOINT_FIELDS:
            problems.append(f"{where}: fields are not {', '.join(sorted(CHECKPOINT_FIELDS))}")
            continue
        if checkpoint["public_key"] and key_id(checkpoint["public_key"]) != checkpoint["key_id"]:
            problems.append(f"{where}: its public_key is not the key its key_id names")
        key = keys.get(checkpoint["key_id"])
        if key is None:
            problems.append(f"{where}: signed by key {checkpoint['key_id']}, not one given")
            continue
        try:
            key.verify(b64decode(checkpoint["signature"]), signed_payload(checkpoint))
        except (InvalidSignature, ValueError):
            problems.append(f"{where}: the signature does not verify")
            continue
        if checkpoint["sequence"] not in hashes:
            problems.append(f"{where}: the export's verified events end before it")
        elif hashes[checkpoint["sequence"]] != checkpoint["head_hash"]:
            problems.append(f"{where}: the export's hash there differs")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", help="the unfiltered JSON Lines export")
    parser.add_argument("--checkpoints", help="the checkpoints file (JSON Lines)")
    parser.add_argument("--public-key", action="append", default=[], help="write --public-key=KEY")
    args = parser.parse_args(argv)
    if args.checkpoints and not args.public_key:
        parser.error("--checkpoints needs --public-key=KEY: the key you hold, not the file's")
    try:
        keys = load_keys(args.public_key)
    except ValueError:
        parser.error("a --public-key is not an Ed25519 public key (43 characters, URL-safe base64)")
    hashes: dict[int, str] = {}
    checkpoints: list[dict] = []
    try:
        events = read_lines(args.export)
        hashes, broken = check_chain(events)
        problems = [broken] if broken else [] if events else [f"{args.export} holds no event"]
        if args.checkpoints:
            checkpoints = read_lines(args.checkpoints)
            problems += check_checkpoints(checkpoints, keys, hashes)
            if not checkpoints:
                problems.append(f"{args.checkpoints} holds no checkpoint")
    except (OSError, Unreadable) as exc:
        problems = [str(exc)]
    for problem in problems:
        print(f"FAILED: {problem}")
    if not problems:
        held = f"; {len(checkpoints)} checkpoint(s) verified" if checkpoints else ""
        print(f"OK: {len(hashes)} events, head {hashes[max(hashes)]}{held}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
