"""Protected terms: exact-data matching of admin lists (clients, codenames, staff names).

Terms and text are both folded the same way (NFKC, lower case, no accents, one
kind of space), so "Acme", "ACME" and "Ácme" are one key. One Aho-Corasick
automaton (``pyahocorasick``) finds every term in a single pass however long
the list.
"""

from collections.abc import Iterable

import ahocorasick

from governance.scanning.base import Candidate, Entity, is_word_char
from governance.scanning.normalise import fold_term
from governance.scanning.words import build_automaton, scan_words, words_version

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
    """Folded terms, built once per list and reused for every scan.

    ``pairs`` are ``(term, kind)``; ``kind`` ("client", "codename", "staff") is
    kept as the finding's note. When one key appears with several kinds, a
    person wins (personal data is the stricter class), then the first seen.
    The automaton also holds the scanner's trigger and context words, so a scan
    reads the text once for both. Instances are safe to share between threads.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        keys: dict[str, tuple] = {}
        for term, kind in pairs:
            key = fold_term(term)
            if len(key) < MIN_TERM_LENGTH:
                continue
            entity = entity_for_kind(kind)
            existing = keys.get(key)
            if existing is not None and (existing[0] == Entity.PERSON or entity != Entity.PERSON):
                continue
            # Word boundaries are required only where the term itself has a word edge:
            # "Acme" must not match inside "Acmeville", but "C++" may end before a letter.
            keys[key] = (entity, kind, is_word_char(key[0]), is_word_char(key[-1]))
        self._keys = keys
        self._automaton = build_automaton(keys)
        self._version = words_version()

    def __len__(self) -> int:
        return len(self._keys)

    def automaton(self) -> ahocorasick.Automaton:
        """Terms and the scanner's words, rebuilt if more words were registered since."""
        if self._version != words_version():
            self._automaton, self._version = build_automaton(self._keys), words_version()
        return self._automaton

    def find(self, folded: str) -> list[Candidate]:
        """Terms in ``folded`` text (see ``normalise.fold``), on word boundaries."""
        if not self._keys:
            return []
        return scan_words(self.automaton(), folded)[1]
