"""What changed between two versions of the policy document (line by line).

The lines are matched patience-style: lines that occur once in each version anchor the
match, the lines equal before and after each anchor join it, and what lies between two
anchors is matched again the same way. Only a stretch with no such line is left to
difflib, in pieces of at most ``_PIECE`` lines of each. difflib on a whole document
(``autojunk=False``) took 50 s for 4,000 lines with a blank line between paragraphs and
never finished for 20,000: its cost grows with the product of the lengths and with how
often lines repeat. This stays near-linear (bench/training.py).
"""

import difflib
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

_PIECE = 100  # lines of each version difflib is given at most, at once


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "same" or "gap"
    text: str


def diff_lines(old: str, new: str, *, context: int = 2) -> list[DiffLine]:
    """The changed lines with ``context`` unchanged lines around them; "gap" marks a cut."""
    return list(_diff_lines(old, new, context))


def diff_stats(old: str, new: str) -> tuple[int, int]:
    """(lines added, lines removed) from ``old`` to ``new``."""
    lines = _diff_lines(old, new, 0)
    return (
        sum(1 for line in lines if line.kind == "added"),
        sum(1 for line in lines if line.kind == "removed"),
    )


@lru_cache(maxsize=8)
def _diff_lines(old: str, new: str, context: int) -> tuple[DiffLine, ...]:
    """Kept for the next view: everyone who acknowledged the same version sees this one."""
    a, b = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    for number, group in enumerate(_grouped(_opcodes(a, b), context)):
        if number:
            lines.append(DiffLine("gap", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("same", t) for t in a[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                lines += [DiffLine("removed", t) for t in a[i1:i2]]
            if tag in ("replace", "insert"):
                lines += [DiffLine("added", t) for t in b[j1:j2]]
    return tuple(lines)


def _matching_blocks(a: list[str], b: list[str]) -> list[tuple[int, int, int]]:
    """(i, j, n): a[i:i + n] == b[j:j + n], in order and not overlapping."""
    blocks: list[tuple[int, int, int]] = []
    stretches = [(0, len(a), 0, len(b))]
    while stretches:
        alo, ahi, blo, bhi = stretches.pop()
        start = alo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo, blo = alo + 1, blo + 1
        if alo > start:
            blocks.append((start, blo - (alo - start), alo - start))
        end = ahi
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
        if ahi < end:
            blocks.append((ahi, bhi, end - ahi))
        if alo == ahi or blo == bhi:
            continue
        anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
        if not anchors:
            blocks += _difflib_blocks(a, alo, ahi, b, blo, bhi)
            continue
        for i, j in anchors:
            blocks.append((i, j, 1))
            stretches.append((alo, i, blo, j))
            alo, blo = i + 1, j + 1
        stretches.append((alo, ahi, blo, bhi))
    blocks.sort()
    return blocks


def _unique_anchors(
    a: list[str], alo: int, ahi: int, b: list[str], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """The longest run, in order in both, of lines found once in each stretch."""
    in_a = Counter(a[alo:ahi])
    in_b = Counter(b[blo:bhi])
    where_in_b = {b[j]: j for j in range(blo, bhi) if in_b[b[j]] == 1 and in_a[b[j]] == 1}
    pairs = [(i, where_in_b[a[i]]) for i in range(alo, ahi) if a[i] in where_in_b]
    if not pairs:
        return []
    # Longest increasing run of positions in b (patience sorting).
    tops: list[int] = []  # the smallest j ending a run of each length
    ends: list[int] = []  # index in pairs of that run's last pair
    before: list[int] = []  # index in pairs of the pair before, in its run
    for k, (_, j) in enumerate(pairs):
        length = bisect_left(tops, j)
        if length == len(tops):
            tops.append(j)
            ends.append(k)
        else:
            tops[length] = j
            ends[length] = k
        before.append(ends[length - 1] if length else -1)
    run = []
    k = ends[-1]
    while k >= 0:
        run.append(pairs[k])
        k = before[k]
    return run[::-1]


def _difflib_blocks(
    a: list[str], alo: int, ahi: int, b: list[str], blo: int, bhi: int
) -> list[tuple[int, int, int]]:
    """difflib on a stretch no unique line anchors, cut in pieces of at most _PIECE lines:
    its cost grows with the product of the lengths."""
    pieces = -(-max(ahi - alo, bhi - blo) // _PIECE)
    blocks = []
    for p in range(pieces):
        i1 = alo + (ahi - alo) * p // pieces
        i2 = alo + (ahi - alo) * (p + 1) // pieces
        j1 = blo + (bhi - blo) * p // pieces
        j2 = blo + (bhi - blo) * (p + 1) // pieces
        matcher = difflib.SequenceMatcher(None, a[i1:i2], b[j1:j2], autojunk=False)
        blocks += [(i1 + i, j1 + j, n) for i, j, n in matcher.get_matching_blocks() if n]
    return blocks


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """As difflib.SequenceMatcher.get_opcodes()."""
    opcodes = []
    i = j = 0
    for ai, bj, size in [*_matching_blocks(a, b), (len(a), len(b), 0)]:
        tag = ""
        if i < ai and j < bj:
            tag = "replace"
        elif i < ai:
            tag = "delete"
        elif j < bj:
            tag = "insert"
        if tag:
            opcodes.append((tag, i, ai, j, bj))
        i, j = ai + size, bj + size
        if size:
            if opcodes and opcodes[-1][0] == "equal":  # adjacent blocks: one run
                opcodes[-1] = ("equal", opcodes[-1][1], i, opcodes[-1][3], j)
            else:
                opcodes.append(("equal", ai, i, bj, j))
    return opcodes or [("equal", 0, 0, 0, 0)]


def _grouped(opcodes: list[tuple[str, int, int, int, int]], context: int):
    """As difflib.SequenceMatcher.get_grouped_opcodes(): the changes with ``context``
    equal lines around them, one group per stretch with no longer equal run."""
    codes = list(opcodes)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)
    group = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > context * 2:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group
