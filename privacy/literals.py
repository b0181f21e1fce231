"""The values a request names, matched as whole tokens in a conversation's text.

A literal is matched as a whole token only: the name "Ann" leaves "annual" and "Jo-Ann"
alone, and an address or a number leaves the longer ones that contain it
(``mary.ann@…``, ``…09581``) alone.

It is matched however it is typed, on the text as the detectors read it
(:func:`~governance.scanning.normalise.normalise`): "Ｊａｎｅ Ｒｏｅ" in full-width
letters, "Ja\\u200bne" with a zero-width space inside, "jane@exam\\u00adple.org" with a soft
hyphen are Jane Roe and her address. Accents are not folded: "José" is not "Jose", as the
subject index's keyed hashes tell them apart. What is found is mapped back to the text as
typed, invisible characters inside it included, so that an erasure leaves none of it.
"""

import re

from governance.scanning.normalise import normalise

#: Where a token goes on past a literal that starts or ends with a word character: another
#: word character, or a joiner of names and addresses followed (preceded) by one. Not "'":
#: "Ann's" is Ann. The edge before a literal is checked once past its first character: a
#: pattern that opens with a character is found several times faster than one that opens
#: with a look-behind.
_TOKEN_BEFORE = r"(?<!\w.)(?<!\w[-.+@].)"
_TOKEN_AFTER = r"(?!\w)(?![-.+@]\w)"
#: Characters typed for one another: an apostrophe as a phone's keyboard types it
#: ("O’Brien"), a hyphen as a word processor does ("Mary‐Ann").
_ALIKE = ("'’‘ʼ`´", "-‐‑‒–")


def _alike_pattern(alike: str) -> str:
    """What matches any of ``alike`` in normalised text: NFKC turns some into others ("‑" is
    "‐") and one into two characters ("´" is a space and a combining accent)."""
    forms = sorted({normalise(char).text for char in alike})
    single = "".join(form for form in forms if len(form) == 1)
    longer = [re.escape(form) for form in forms if len(form) > 1]
    return "(?:" + "|".join([f"[{re.escape(single)}]", *longer]) + ")"


_ALIKE_PATTERNS = {alike[0]: _alike_pattern(alike) for alike in _ALIKE}
#: Each look-alike as the first of its kind, so that a literal typed with "´" is read as "'".
_AS_FIRST_ALIKE = str.maketrans({char: alike[0] for alike in _ALIKE for char in alike[1:]})


def literal_patterns(literals: list[str]) -> list[re.Pattern]:
    """One case-blind pattern per literal, matching it as a whole token only, its words
    however far apart (a name typed "Jane  Roe" is Jane Roe, as its keyed hash is), its
    apostrophes and hyphens as any keyboard types them.

    The patterns match normalised text: use them through :func:`holds_literal` and
    :func:`literal_spans`, which normalise the text they look in."""
    patterns = []
    for literal in literals:
        value = normalise(literal.translate(_AS_FIRST_ALIKE)).text.strip()
        if not value:
            continue
        pattern = r"\s+".join(_as_typed(word) for word in value.split())
        # Only an edge that is a word character can run on into a longer token ("+44…" can't).
        if re.match(r"\w", value[0]):
            first = re.escape(value[0])
            pattern = first + _TOKEN_BEFORE + pattern.removeprefix(first)
        if re.match(r"\w", value[-1]):
            pattern += _TOKEN_AFTER
        patterns.append(re.compile(pattern, re.IGNORECASE))
    return patterns


def _as_typed(word: str) -> str:
    """The pattern of ``word``, each apostrophe or hyphen matching its look-alikes."""
    return "".join(_ALIKE_PATTERNS.get(char) or re.escape(char) for char in word)


def holds_literal(patterns: list[re.Pattern], text: str) -> bool:
    """Whether ``text`` holds a value of ``patterns``, however it is typed."""
    if not patterns:
        return False
    readable = normalise(text).text
    return any(pattern.search(readable) for pattern in patterns)


def literal_spans(patterns: list[re.Pattern], text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a value of ``patterns``: offsets into ``text`` as typed, each
    covering the whole value with any invisible characters inside it."""
    if not patterns:
        return []
    readable = normalise(text)
    return [
        readable.span(*match.span())
        for pattern in patterns
        for match in pattern.finditer(readable.text)
    ]


def replace_spans(text: str, where: list[tuple[int, int]], replacement: str) -> str:
    """``text`` with each of ``where`` (offsets into it, in any order) replaced by
    ``replacement``; spans that overlap are replaced as one."""
    parts, kept_from = [], 0
    for start, end in _merged(where):
        parts += [text[kept_from:start], replacement]
        kept_from = end
    return "".join(parts) + text[kept_from:]


def _merged(where: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(where):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
