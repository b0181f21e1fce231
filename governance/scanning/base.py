"""What every detector shares: entity names, the document it reads, and small checks.

A detector is a function ``(doc) -> iterable of Candidate``; candidates carry
offsets into the *normalised* text, which the scanner maps back afterwards.
"""

import math
import re
from collections import Counter
from enum import StrEnum
from typing import NamedTuple

from governance.scanning.normalise import fold


class Entity(StrEnum):
    """Finding types, named as Presidio names them so results can be compared."""

    EMAIL_ADDRESS = "EMAIL_ADDRESS"
    PHONE_NUMBER = "PHONE_NUMBER"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN_CODE = "IBAN_CODE"
    IP_ADDRESS = "IP_ADDRESS"
    URL = "URL"
    CRYPTO = "CRYPTO"
    SECRET = "SECRET"
    PERSON = "PERSON"
    PROTECTED_TERM = "PROTECTED_TERM"
    US_SSN = "US_SSN"
    US_ITIN = "US_ITIN"
    UK_NHS = "UK_NHS"
    UK_NINO = "UK_NINO"
    DE_TAX_ID = "DE_TAX_ID"
    FR_NIR = "FR_NIR"
    NL_BSN = "NL_BSN"
    ES_NIF = "ES_NIF"
    ES_NIE = "ES_NIE"
    IT_FISCAL_CODE = "IT_FISCAL_CODE"
    PL_PESEL = "PL_PESEL"
    IN_AADHAAR = "IN_AADHAAR"
    CA_SIN = "CA_SIN"
    FI_PERSONAL_IDENTITY_CODE = "FI_PERSONAL_IDENTITY_CODE"


NATIONAL_IDS = frozenset(
    {
        Entity.US_SSN,
        Entity.US_ITIN,
        Entity.UK_NHS,
        Entity.UK_NINO,
        Entity.DE_TAX_ID,
        Entity.FR_NIR,
        Entity.NL_BSN,
        Entity.ES_NIF,
        Entity.ES_NIE,
        Entity.IT_FISCAL_CODE,
        Entity.PL_PESEL,
        Entity.IN_AADHAAR,
        Entity.CA_SIN,
        Entity.FI_PERSONAL_IDENTITY_CODE,
    }
)


class Candidate(NamedTuple):
    """A detector's finding, in normalised-text offsets."""

    type: str
    start: int
    end: int
    score: float
    note: str


_DIGIT = re.compile(r"[0-9]")


class Doc:
    """The normalised text of one message, with lazily computed views detectors share."""

    __slots__ = ("text", "phone_regions", "has_digit", "_folded", "_runs")

    def __init__(self, text: str, *, phone_regions: tuple[str, ...]) -> None:
        self.text = text
        self.phone_regions = phone_regions
        self.has_digit = _DIGIT.search(text) is not None
        self._folded: str | None = None
        self._runs: list[DigitRun] | None = None

    @property
    def folded(self) -> str:
        """Lower-case, accent-free text with the same offsets (for words and terms)."""
        if self._folded is None:
            self._folded = fold(self.text)
        return self._folded


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def bounded(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is not glued to letters or digits on either side."""
    return (start == 0 or not is_word_char(text[start - 1])) and (
        end == len(text) or not is_word_char(text[end])
    )


def near(doc: Doc, start: int, end: int, words: re.Pattern, *, before=48, after=24) -> bool:
    """Whether a context word (a pattern over folded text) sits close to ``[start, end)``."""
    folded = doc.folded
    return bool(
        words.search(folded, max(0, start - before), start)
        or words.search(folded, end, min(len(folded), end + after))
    )


def context_words(*words: str) -> re.Pattern:
    """A whole-word pattern for context words, matched against folded (lower-case) text."""
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in Counter(value).values())


class DigitRun(NamedTuple):
    """Digits written in groups, e.g. ``4111 1111 1111 1111`` or ``078-05-1120``."""

    start: int
    end: int
    groups: tuple[tuple[int, int], ...]


_DIGIT_RUN = re.compile(r"[0-9]+(?:[ \-][0-9]+)*")
_DIGIT_GROUP = re.compile(r"[0-9]+")


def digit_runs(doc: Doc) -> list[DigitRun]:
    """Runs of digit groups joined by single spaces or dashes, not glued to other words.

    Computed once per document: cards and national identifiers all start here.
    """
    if doc._runs is None:
        text, runs = doc.text, []
        if doc.has_digit:
            for match in _DIGIT_RUN.finditer(text):
                start, end = match.span()
                if start and (text[start - 1].isalnum() or text[start - 1] in "._"):
                    continue
                if end < len(text) and (
                    text[end].isalnum()
                    or text[end] == "_"
                    or (text[end] in ".," and text[end + 1 : end + 2].isdigit())
                ):
                    continue
                groups = tuple(g.span() for g in _DIGIT_GROUP.finditer(text, start, end))
                runs.append(DigitRun(start, end, groups))
        doc._runs = runs
    return doc._runs
