"""What an event's hash covers is what the database gives back: PostgreSQL's jsonb keeps
numbers as decimals (1e16 comes back as the integer 10000000000000000, -0.0 as 0.0), and
JSON object keys come back as text. So the JSON is put in that form before it is hashed and
stored (:func:`audit.chain.as_stored`), and that form changes nothing that already came back
as it went in: events written before still verify."""

import json
import math
import random
import re

import pytest

from audit import chain, exports
from audit.models import AuditEvent
from audit.services import record, verify_trail
from tests.audit.test_verification_doc import reference

Action = AuditEvent.Action

#: The values the brief names: the first three did not verify on PostgreSQL.
AWKWARD = [1e16, 1.5e16, -0.0, 1e-7, 0.1, 123456.789]


def _sweep(count: int, seed: int = 16) -> list[float]:
    """Floats of every magnitude below 1e16, either sign, full and short spellings,
    subnormals and the ends of the range included."""
    rng = random.Random(seed)
    floats = [5e-324, 2.2250738585072014e-308, 1e-300, 1e-7, 1e-5, 2.5e-5, 1e-4, 0.5]
    floats += [2.0**52 + 0.5, 2.0**53, 9999999999999998.0, 1e15]
    while len(floats) < count:
        value = 10 ** rng.uniform(-323, 16) * rng.choice((1, -1))
        if abs(value) < 1e16:
            floats += [value, float(f"{value:.3g}")]
    return [value for value in floats if 0 < abs(value) < 1e16]


def _same(left, right) -> bool:
    """Equal, and of the same types all the way down (1 == 1.0, 0.0 == -0.0 for ``==``)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, float):
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    return left == right


def _verifies() -> None:
    report, problems = verify_trail()
    assert report.intact, report.first_break
    assert problems == []
    events = exports.jsonl_lines(AuditEvent.objects.all())
    checked, broken = reference.check_chain([json.loads(line) for line in events])
    assert broken is None
    assert len(checked) == report.checked


# --- the rule ------------------------------------------------------------------------------


def test_it_gives_what_the_database_gives_back():
    stored = chain.as_stored(
        {"a": 1e16, "b": -0.0, "c": [1.5e16, -(2.0**63), float("nan"), float("-inf")], 1: "one"}
    )
    assert _same(
        stored,
        {"a": 10**16, "b": 0.0, "c": [15 * 10**15, -(2**63), None, None], "1": "one"},
    )
    assert _same(chain.as_stored({None: 1, True: 2, 1e-5: 3, 2.5: (4,)}),
                 {"null": 1, "true": 2, "1e-05": 3, "2.5": [4]})  # fmt: skip


def test_it_is_the_identity_for_what_already_round_trips():
    """Durations, counts, ratios and every float below 1e16 but -0.0: the same values and
    types, the same hashed bytes, so the hashes of events already stored do not change."""
    written = {
        "duration_ms": 1234,
        "latency_ms": None,
        "seconds": 0.000123456,
        "ratio": 1 / 3,
        "percent": 99.5,
        "counts": {"created": 0, "updated": 2**63 - 1, "u64": 2**64 - 1, "least": -(2**63)},
        "sizes": [12.0, 123456.789, 1.5e-5, 1e-7, 0.1],
        "flags": [True, False, None, "", "Grüße ☕"],
        "nested": {"a": [{"b": []}, {}]},
    }
    for value in [written, {"floats": _sweep(20_000)}]:
        stored = chain.as_stored(value)
        assert _same(stored, value)
        row = {name: None for name in chain.CONTENT_FIELDS} | {"details": value}
        assert chain.content(row | {"details": stored}) == chain.content(row)


def test_no_float_it_gives_is_spelled_with_a_positive_exponent():
    """orjson writes those 1e16 before 3.11.7 and 1e+16 since: a hash over them would depend
    on the version installed. The floats left (1e-7, 0.00001) are spelled alike by both."""
    values = [*AWKWARD, *_sweep(2_000), *(10.0**e * s for e in range(16, 19) for s in (1, -1))]
    row = {name: None for name in chain.CONTENT_FIELDS}
    content = chain.content(row | {"details": chain.as_stored({"values": values})})
    assert not re.search(rb"\de\+?\d", content)


@pytest.mark.parametrize("number", [1e20, -1e300, 2**64, -(2**63) - 1])
def test_it_refuses_a_number_no_64_bit_integer_holds(db, number):
    """jsonb gives such a float back as a whole number that orjson cannot write: the hash
    could not cover it. The action it records does not happen (the caller rolls back)."""
    with pytest.raises(ValueError, match="beyond the whole numbers the audit trail can hash"):
        record(action=Action.LOGIN, details={"size": number})
    assert not AuditEvent.objects.exists()


# --- through the database ------------------------------------------------------------------


@pytest.mark.parametrize("number", AWKWARD, ids=repr)
def test_an_event_with_the_float_verifies_after_a_round_trip(db, number):
    event = record(
        action=Action.POLICY_CHANGED,
        before={"limit": number},
        after={"limit": [number, {"inner": number}]},
        details={"value": number},
    )
    record(action=Action.LOGIN)  # after it, so the hash it links to is checked too
    _verifies()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert _same(stored.details, event.details)  # what record() gave is what was stored
    assert _same(stored.after, event.after) and _same(stored.before, event.before)
    assert _same(event.details["value"], int(number) if abs(number) >= 1e16 else abs(number))


def test_floats_of_every_magnitude_verify_after_a_round_trip(db):
    """jsonb gives 1e-7 back as 0.0000001: the same float, which orjson spells as before."""
    sweep = _sweep(4_000)
    event = record(action=Action.LOGIN, details={"floats": sweep})
    _verifies()
    assert _same(AuditEvent.objects.get(pk=event.pk).details, {"floats": sweep})


def test_not_a_number_and_infinities_are_stored_as_the_null_the_hash_covers(db):
    """orjson hashes NaN as null; Python's json wrote NaN, which jsonb refuses and SQLite
    kept: a verifier could not read it back."""
    event = record(action=Action.LOGIN, details={"nan": math.nan, "inf": [math.inf, -math.inf]})
    _verifies()
    assert AuditEvent.objects.get(pk=event.pk).details == {"nan": None, "inf": [None, None]}


def test_keys_that_are_not_text_verify_as_the_text_they_are_stored_as(db):
    """Python's json writes the key 1e-05 as "1e-05", orjson as "0.00001"."""
    event = record(action=Action.LOGIN, details={1: "a", 1e-5: "b", None: "c", 1e16: "d"})
    _verifies()
    assert AuditEvent.objects.get(pk=event.pk).details == {
        "1": "a", "1e-05": "b", "null": "c", "1e+16": "d",
    }  # fmt: skip
