"""What every detector shares: entity names, the document it reads, and small checks.

A detector is a function ``(doc) -> iterable of Candidate``; candidates carry
offsets into the *normalised* text, which the scanner maps back afterwards.
"""

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import NamedTuple

import ahocorasick

from governance.scanning.normalise import fold, shape


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

# Trigger and context words, all found in one Aho-Corasick pass over the folded text
# (sixty separate ``in`` tests and a dozen context regexes cost several times as much):
# - a trigger word gates a detector: without "akia" in the text, no AWS key search;
# - a context word lets a weak match count: "SSN" shortly before nine digits.
# Protected terms (see terms.py) ride along in the same automaton: one pass for all.
_WORDS: dict[str, set[tuple[str, str]]] = {}  # folded word -> {(group, mode)}
_automaton: ahocorasick.Automaton | None = None
_version = 0


def _register(group: str, words: Iterable[str], mode: str) -> str:
    global _automaton, _version
    for word in words:
        _WORDS.setdefault(fold(word), set()).add((group, mode))
    _automaton = None
    _version += 1
    return group


def register_triggers(group: str, words: Iterable[str]) -> str:
    """Declare that detector ``group`` can only match where one of ``words`` occurs.

    Words are substrings, matched case-insensitively; a leading space also
    matches at the start of the text. Returns ``group``, for the detector to
    test ``group in doc.triggers``.
    """
    return _register(group, words, "substring")


# Context words are registered with the characters that may start a word in front of
# them: "tin" inside "meeting" is then never even reported by the automaton.
_WORD_LEADS = " (\"'/-"


def register_context(group: str, words: Iterable[str]) -> str:
    """Declare context words for :func:`near`: whole words, or prefixes when ending in ``*``."""
    words = list(words)
    whole = [lead + w for w in words if not w.endswith("*") for lead in _WORD_LEADS]
    prefixes = [lead + w[:-1] for w in words if w.endswith("*") for lead in _WORD_LEADS]
    _register(group, whole, "word")
    return _register(group, prefixes, "prefix")


def words_version() -> int:
    """Changes whenever a word is registered (automatons built before are then stale)."""
    return _version


def build_automaton(terms: Mapping[str, tuple] | None = None) -> ahocorasick.Automaton:
    """An automaton over every registered word and the given protected-term keys.

    Values are ``(length, term, entries)``: ``term`` is the protected term's
    ``(entity, kind, word start, word end)`` or None, ``entries`` the word's
    ``(group, mode)`` pairs (empty for a term only).
    """
    terms = terms or {}
    automaton = ahocorasick.Automaton()
    for key in _WORDS.keys() | terms.keys():
        automaton.add_word(key, (len(key), terms.get(key), tuple(sorted(_WORDS.get(key, ())))))
    automaton.make_automaton()
    return automaton


def _words_automaton() -> ahocorasick.Automaton:
    global _automaton
    if _automaton is None:
        _automaton = build_automaton()
    return _automaton


def scan_words(automaton: ahocorasick.Automaton, folded: str):
    """One pass of ``automaton`` over folded text: ``(words by group, term candidates)``.

    Word spans are sorted by start, for :func:`near`'s bisection.
    """
    last = len(folded)
    words: dict[str, list[tuple[int, int]]] = {}
    terms: list[Candidate] = []
    # The leading space lets " dr" match at the very start; offsets shift by one.
    for end, (length, term, entries) in automaton.iter(" " + folded):
        start = end - length
        for group, mode in entries:
            if mode == "substring":
                words.setdefault(group, []).append((start, end))
            elif mode == "prefix" or end >= last or not is_word_char(folded[end]):
                words.setdefault(group, []).append((start + 1, end))  # without the lead
        if term is not None:
            entity, kind, word_start, word_end = term
            if word_start and start > 0 and is_word_char(folded[start - 1]):
                continue
            if word_end and end < last and is_word_char(folded[end]):
                continue
            terms.append(Candidate(entity, start, end, 0.95, kind))
    for spans in words.values():
        spans.sort()
    return words, terms


class Doc:
    """The normalised text of one message, with lazily computed views detectors share."""

    __slots__ = (
        "text", "phone_regions", "has_digit", "automaton", "_folded", "_shape", "_runs",
        "_words", "_terms",
    )  # fmt: skip

    def __init__(
        self,
        text: str,
        *,
        phone_regions: tuple[str, ...],
        automaton: ahocorasick.Automaton | None = None,
    ) -> None:
        self.text = text
        self.phone_regions = phone_regions
        #: words and protected terms (see ProtectedTerms.automaton); None: words only
        self.automaton = automaton
        self.has_digit = _DIGIT.search(text) is not None
        self._folded: str | None = None
        self._shape: str | None = None
        self._words: dict[str, list[tuple[int, int]]] | None = None
        self._terms: list[Candidate] = []
        self._runs: list[DigitRun] | None = None

    @property
    def folded(self) -> str:
        """Lower-case, accent-free text with the same offsets (for words and terms)."""
        if self._folded is None:
            self._folded = fold(self.text)
        return self._folded

    @property
    def shape(self) -> str:
        """The text's character classes (``A``, ``a``, ``9``), for fast pattern search."""
        if self._shape is None:
            self._shape = shape(self.text)
        return self._shape

    @property
    def words(self) -> dict[str, list[tuple[int, int]]]:
        """Registered trigger and context words found, by group: their ``(start, end)``."""
        if self._words is None:
            self._words, self._terms = scan_words(self.automaton or _words_automaton(), self.folded)
        return self._words

    @property
    def terms(self) -> list[Candidate]:
        """Protected terms found, when the document was given their automaton."""
        _ = self.words  # found in the same pass
        return self._terms

    @property
    def triggers(self) -> dict[str, list[tuple[int, int]]]:
        """Groups with at least one word present (test with ``group in doc.triggers``)."""
        return self.words


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def glued(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is part of a longer token.

    That is: letters or digits right beside it, or joined to it by ``. _ - /``,
    as inside a UUID, a version, a path or a product code.
    """
    if start:
        before = text[start - 1]
        if is_word_char(before) or (before in ".-/" and start > 1 and text[start - 2].isalnum()):
            return True
    if end < len(text):
        after = text[end]
        if is_word_char(after) or (after in ".-/" and text[end + 1 : end + 2].isalnum()):
            return True
    return False


def bounded(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is not glued to letters or digits on either side."""
    return (start == 0 or not is_word_char(text[start - 1])) and (
        end == len(text) or not is_word_char(text[end])
    )


def near(doc: Doc, group: str, start: int, end: int, *, before=48, after=24) -> bool:
    """Whether a context word of ``group`` sits shortly before or after ``[start, end)``.

    Only within the sentence, and when no other number stands between them: in
    "SSN 536-22-1234, call 030 129809" the word "SSN" belongs to the first number.
    """
    words = doc.words.get(group)
    if not words:
        return False
    # Spans are sorted by start, so bisection finds the few close enough.
    i = bisect.bisect_left(words, (start - before, -1))
    while i < len(words) and words[i][0] <= end + after:
        word_start, word_end = words[i]
        if start - before <= word_start and word_end <= start:
            if _clear(doc, word_end, start):
                return True
        elif end <= word_start and word_end <= end + after and _clear(doc, end, word_start):
            return True
        i += 1
    return False


# A full stop, then a capital: "Tel. 030 ..." keeps its context, "... 0581. Please call" not.
_SENTENCE_END = re.compile(r"[.!?]\s+[A-Z]")


def _clear(doc: Doc, start: int, end: int) -> bool:
    # One character further, to see the capital that opens the word's own sentence.
    return "9" not in doc.shape[start:end] and not _SENTENCE_END.search(doc.text, start, end + 1)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in Counter(value).values())


class DigitRun(NamedTuple):
    """Digits written in groups, e.g. ``4111 1111 1111 1111`` or ``078-05-1120``."""

    start: int
    end: int
    groups: tuple[tuple[int, int], ...]


# Over the shape: at least nine digits, in groups joined by single spaces or dashes.
# The lookbehinds (after the first digit, so the engine still skips ahead to digits fast)
# refuse to start inside a number: each number is tried once, not at every digit.
_DIGIT_RUN = re.compile(r"9(?<!99)(?<!9[ \-]9)(?:[ \-]?9){8,}")
_DIGIT_GROUP = re.compile(r"9+")


def digit_runs(doc: Doc) -> list[DigitRun]:
    """Runs of nine or more digits in groups, not glued to other words.

    Computed once per document: cards and digit-only national identifiers start here.
    """
    if doc._runs is None:
        text, runs = doc.text, []
        if doc.has_digit:
            for match in _DIGIT_RUN.finditer(doc.shape):
                start, end = match.span()
                if glued(text, start, end) or (
                    text[end : end + 1] == "," and text[end + 1 : end + 2].isdigit()
                ):
                    continue
                groups = tuple(g.span() for g in _DIGIT_GROUP.finditer(doc.shape, start, end))
                runs.append(DigitRun(start, end, groups))
        doc._runs = runs
    return doc._runs
