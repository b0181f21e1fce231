"""People named with an honorific: "Mr. John Smith", "Dr Jane Doe", "Frau Müller".

Names in free text without such a cue are left to the protected-term lists
(staff and client names): guessing names from capital letters alone flags
every product and place.
"""

import re
from collections.abc import Iterator

from governance.scanning.base import Candidate, Entity
from governance.scanning.document import Doc
from governance.scanning.words import register_triggers

_HONORIFICS = (
    "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Professor", "Sir", "Dame", "Lady", "Lord",
    "Herr", "Frau", "Mme", "Mlle", "Madame", "Monsieur", "Sr", "Sra", "Srta", "Dott", "Dottssa",
)  # fmt: skip
# Most messages name nobody this way: the pattern runs only after a trigger word.
_TRIGGER = register_triggers(
    "honorific", [f"{lead}{h.lower()}" for h in _HONORIFICS for lead in " (\"'"]
)
_HONORIFIC = re.compile(
    r"(?:" + "|".join(sorted(_HONORIFICS, key=len, reverse=True)) + r")\.?[ \t]+"
)
# A capitalised name, or an initial ("J."); hyphens and apostrophes inside ("O'Neil").
_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|['’\-](?=[^\W\d_]))*\.?")
_NOT_NAMES = frozenset({"The", "And", "Or", "Of", "In", "On", "At", "To", "For", "With", "Who"})


def find_honorific_names(doc: Doc) -> Iterator[Candidate]:
    """Up to three capitalised words or initials after an honorific; the name alone is the span."""
    if _TRIGGER not in doc.triggers:
        return
    text = doc.text
    for match in _HONORIFIC.finditer(text):
        start = match.start()
        if start and (text[start - 1].isalnum() or text[start - 1] == "_"):
            continue
        pos, end, words, full_words = match.end(), None, 0, 0
        while words < 3:
            name = _NAME.match(text, pos)
            if not name:
                break
            word = name.group()
            core = word.rstrip(".")
            if core.endswith(("'s", "’s")):
                word = core = core[:-2]  # possessive: "Mr Smith's car"
            if not core[0].isupper() or core in _NOT_NAMES:
                break
            initial = len(core) == 1
            end = name.start() + (len(word) if initial else len(core))
            words, full_words = words + 1, full_words + (not initial)
            if word.endswith(".") and not initial:
                break  # a full stop after a surname ends the sentence
            if text[name.end() : name.end() + 1] != " ":
                break
            pos = name.end() + 1
        if full_words:
            score = 0.65 if words > 1 else 0.55
            yield Candidate(Entity.PERSON, match.end(), end, score, "honorific")
