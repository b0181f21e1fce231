"""National identifiers, each validated by python-stdnum.

Formats that are distinctive on their own (``078-05-1120``, ``12345678Z``,
``RSSMRA85T10A562S``) are reported wherever they validate. Bare digit strings
(nine digits for a BSN, eleven for a Steuer-ID) are everywhere in business text
and a checksum still passes one in ten or so: those need a context word nearby.
"""

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from stdnum.ca import sin
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fi import hetu
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.us import itin, ssn

from governance.scanning.base import Candidate, Entity, bounded
from governance.scanning.document import Doc, digit_runs
from governance.scanning.words import near, register_context


class DigitsId(NamedTuple):
    """An identifier written as digits only, found among the document's digit runs."""

    entity: Entity
    lengths: tuple[int, ...]
    is_valid: Callable[[str], bool]
    # Context words (folded: lower case, no accents; "word*" is a prefix).
    context: tuple[str, ...]
    # Groupings that are distinctive enough to report without a context word.
    formats: tuple[tuple[int, ...], ...] = ()


DIGITS_IDS = (
    DigitsId(
        Entity.US_SSN,
        (9,),
        ssn.is_valid,
        ("ssn", "ssns", "social security", "soc sec"),
        formats=((3, 2, 4),),
    ),
    DigitsId(
        Entity.US_ITIN,
        (9,),
        itin.is_valid,
        ("itin", "taxpayer", "tax id", "tin"),
        formats=((3, 2, 4),),
    ),
    DigitsId(Entity.UK_NHS, (10,), nhs.is_valid, ("nhs", "health service")),
    DigitsId(
        Entity.DE_TAX_ID,
        (11,),
        idnr.is_valid,
        ("steuer*", "idnr", "identifikationsnummer", "tin", "tax id*", "taxid*", "tax number"),
    ),
    DigitsId(Entity.PL_PESEL, (11,), pesel.is_valid, ("pesel",)),
    DigitsId(Entity.IN_AADHAAR, (12,), aadhaar.is_valid, ("aadhaar", "aadhar", "uidai")),
    DigitsId(
        Entity.FR_NIR,
        (15,),
        nir.is_valid,
        ("nir", "insee", "securite sociale", "secu", "carte vitale", "social security"),
    ),
    DigitsId(
        Entity.NL_BSN, (9,), bsn.is_valid, ("bsn", "burgerservicenummer", "sofinummer", "sofi")
    ),
    DigitsId(Entity.CA_SIN, (9,), sin.is_valid, ("sin", "social insurance", "nas")),
)

for _spec in DIGITS_IDS:
    register_context(f"context {_spec.entity}", _spec.context)
_BY_LENGTH: dict[int, list[DigitsId]] = {}
for _spec in DIGITS_IDS:
    for _length in _spec.lengths:
        _BY_LENGTH.setdefault(_length, []).append(_spec)


def find_digit_ids(doc: Doc) -> Iterator[Candidate]:
    """Digit-only identifiers: a distinctive grouping, or a context word, and the checksum."""
    text = doc.text
    for run in digit_runs(doc):
        lengths = tuple(e - s for s, e in run.groups)
        specs = _BY_LENGTH.get(sum(lengths))
        if not specs:
            continue
        digits = None
        for spec in specs:
            formatted = lengths in spec.formats
            context = near(doc, f"context {spec.entity}", run.start, run.end)
            if not (formatted or context):
                continue
            digits = digits or "".join(text[s:e] for s, e in run.groups)
            if spec.is_valid(digits):
                score = 0.95 if formatted and context else 0.85 if formatted else 0.8
                note = "format and check" if formatted else "context word and check"
                yield Candidate(spec.entity, run.start, run.end, score, note)


# --- identifiers with letters ---------------------------------------------------------------


def _nino_valid(value: str) -> bool:
    """UK National Insurance number: HMRC's prefix rules (it carries no check digit)."""
    compact = value.replace(" ", "")
    prefix = compact[:2]
    return prefix not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"} and prefix[1] != "O"


class PatternId(NamedTuple):
    """An identifier with letters in it: where its shape fits, the text is checked."""

    entity: Entity
    shape: re.Pattern  # over Doc.shape: A capital, a lower-case letter, 9 digit
    text: re.Pattern  # the exact form, over the text
    is_valid: Callable[[str], bool]
    score: float
    note: str


PATTERN_IDS = (
    PatternId(
        Entity.ES_NIF,
        re.compile(r"99999999-?A"),
        re.compile(r"[0-9]{8}-?[A-Z]"),
        dni.is_valid,
        0.85,
        "DNI letter",
    ),
    PatternId(
        Entity.ES_NIE,
        re.compile(r"A-?9999999-?A"),
        re.compile(r"[XYZ]-?[0-9]{7}-?[A-Z]"),
        nie.is_valid,
        0.85,
        "NIE letter",
    ),
    PatternId(
        Entity.IT_FISCAL_CODE,
        re.compile(r"AAAAAA[9A]{2}A[9A]{2}A[9A]{3}A"),
        re.compile(r"[A-Z]{6}[0-9LMNP-V]{2}[A-EHLMPR-T][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z]"),
        codicefiscale.is_valid,
        0.9,
        "check letter",
    ),
    PatternId(
        Entity.UK_NINO,
        re.compile(r"AA ?99 ?99 ?99 ?A"),
        re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"),
        _nino_valid,
        0.7,
        "format and prefix rules",
    ),
    PatternId(
        Entity.FI_PERSONAL_IDENTITY_CODE,
        re.compile(r"999999[-+A]999[9A]"),
        re.compile(r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]"),
        hetu.is_valid,
        0.85,
        "date and check character",
    ),
)


def find_pattern_ids(doc: Doc) -> Iterator[Candidate]:
    """Identifiers mixing letters and digits, each with its own pattern and check."""
    if not doc.has_digit:
        return
    text, shape = doc.text, doc.shape
    for spec in PATTERN_IDS:
        for match in spec.shape.finditer(shape):
            start, end = match.span()
            if (
                bounded(text, start, end)
                and spec.text.fullmatch(text, start, end)
                and spec.is_valid(text[start:end])
            ):
                yield Candidate(spec.entity, start, end, spec.score, spec.note)
