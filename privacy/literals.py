"""The values a request names, matched as whole tokens in a conversation's text.

A literal is matched as a whole token only: the name "Ann" leaves "annual" and "Jo-Ann"
alone, and an address or a number leaves the longer ones that contain it
(``mary.ann@…``, ``…09581``) alone.
"""

import re

#: Where a token goes on past a literal that starts or ends with a word character: another
#: word character, or a joiner of names and addresses followed (preceded) by one. Not "'":
#: "Ann's" is Ann.
_TOKEN_BEFORE = r"(?<!\w)(?<!\w[-.+@])"
_TOKEN_AFTER = r"(?!\w)(?![-.+@]\w)"
#: Characters typed for one another: an apostrophe as a phone's keyboard types it
#: ("O’Brien"), a hyphen as a word processor does ("Mary‐Ann").
_ALIKE = ("'’‘ʼ`´", "-‐‑‒–")


def literal_patterns(literals: list[str]) -> list[re.Pattern]:
    """One case-blind pattern per literal, matching it as a whole token only, its words
    however far apart (a name typed "Jane  Roe" is Jane Roe, as its keyed hash is), its
    apostrophes and hyphens as any keyboard types them."""
    patterns = []
    for value in filter(None, (literal.strip() for literal in literals)):
        pattern = r"\s+".join(_as_typed(word) for word in value.split())
        # Only an edge that is a word character can run on into a longer token ("+44…" can't).
        if re.match(r"\w", value[0]):
            pattern = _TOKEN_BEFORE + pattern
        if re.match(r"\w", value[-1]):
            pattern += _TOKEN_AFTER
        patterns.append(re.compile(pattern, re.IGNORECASE))
    return patterns


def _as_typed(word: str) -> str:
    """The pattern of ``word``, each apostrophe or hyphen matching its look-alikes."""
    return "".join(
        next((f"[{re.escape(alike)}]" for alike in _ALIKE if char in alike), re.escape(char))
        for char in word
    )
