"""The document detectors read: normalised text and views computed once, on demand."""

import re
from typing import NamedTuple

import ahocorasick

from governance.scanning.base import Candidate, glued
from governance.scanning.normalise import fold, shape
from governance.scanning.words import scan_words, words_automaton

_DIGIT = re.compile(r"[0-9]")


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
            self._words, self._terms = scan_words(self.automaton or words_automaton(), self.folded)
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
