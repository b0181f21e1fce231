"""Trigger and context words, found with protected terms in one Aho-Corasick pass.

- A trigger word gates a detector: without "akia" in the text, no AWS key search.
- A context word lets a weak match count: "SSN" shortly before nine digits.

Sixty separate ``in`` tests and a dozen context regexes cost several times as
much as the one pass; protected terms (see terms.py) ride along in it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import ahocorasick

from governance.scanning.base import Candidate, is_word_char
from governance.scanning.normalise import fold

if TYPE_CHECKING:
    from governance.scanning.document import Doc

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


def words_automaton() -> ahocorasick.Automaton:
    """The automaton over the registered words alone (for scans without terms)."""
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
