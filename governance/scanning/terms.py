"""Protected terms: exact-data matching of admin lists (clients, codenames, staff names).

Terms and text are both folded the same way (NFKC, lower case, no accents, one
kind of space), so "Acme", "ACME" and "Ácme" are one key. One Aho-Corasick
automaton finds every term in a single pass however long the list.
"""

from collections.abc import Iterable, Iterator

import ahocorasick

from governance.scanning.base import Candidate, Entity, is_word_char
from governance.scanning.normalise import fold_term

#: Kinds of list entry that name people; every other kind is a protected term.
PERSON_KINDS = frozenset({"person", "people", "staff", "employee", "name", "customer_person"})
#: Shorter keys match inside too much ordinary text to be useful.
MIN_TERM_LENGTH = 2


def entity_for_kind(kind: str) -> Entity:
    """``PERSON`` for people lists, ``PROTECTED_TERM`` for everything else."""
    if kind.strip().lower() in PERSON_KINDS or kind == Entity.PERSON:
        return Entity.PERSON
    return Entity.PROTECTED_TERM


class ProtectedTerms:
    """An automaton over folded terms, built once per list and reused for every scan.

    ``pairs`` are ``(term, kind)``; ``kind`` ("client", "codename", "staff") is
    kept as the finding's note. When one key appears with several kinds, a
    person wins (personal data is the stricter class), then the first seen.
    Instances are immutable and safe to share between threads.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        automaton = ahocorasick.Automaton()
        for term, kind in pairs:
            key = fold_term(term)
            if len(key) < MIN_TERM_LENGTH:
                continue
            entity = entity_for_kind(kind)
            existing = automaton.get(key, None)
            if existing is not None and (existing[1] == Entity.PERSON or entity != Entity.PERSON):
                continue
            # Word boundaries are required only where the term itself has a word edge:
            # "Acme" must not match inside "Acmeville", but "C++" may end before a letter.
            automaton.add_word(
                key, (len(key), entity, kind, is_word_char(key[0]), is_word_char(key[-1]))
            )
        self._size = len(automaton)
        if self._size:
            automaton.make_automaton()
        self._automaton = automaton

    def __len__(self) -> int:
        return self._size

    def find(self, folded: str) -> Iterator[Candidate]:
        """Occurrences of any term in ``folded`` text, on word boundaries."""
        if not self._size:
            return
        last = len(folded) - 1
        for end, (length, entity, kind, word_start, word_end) in self._automaton.iter(folded):
            start = end - length + 1
            if word_start and start > 0 and is_word_char(folded[start - 1]):
                continue
            if word_end and end < last and is_word_char(folded[end + 1]):
                continue
            yield Candidate(entity, start, end + 1, 0.95, kind)
