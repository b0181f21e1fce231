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
    for number, group in enumerate(_AnchoredMatcher(a, b).get_grouped_opcodes(context)):
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


class _AnchoredMatcher(difflib.SequenceMatcher):
    """difflib's opcodes and their grouping, over :func:`_matching_blocks` instead of
    difflib's own matching (whose cost grows with the product of the lengths)."""

    def __init__(self, a: list[str], b: list[str]) -> None:
        super().__init__(None, a, b, autojunk=False)

    def get_matching_blocks(self) -> list[tuple[int, int, int]]:
        if self.matching_blocks is None:
            merged: list[tuple[int, int, int]] = []
            for i, j, n in _matching_blocks(self.a, self.b):
                if merged:
                    last_i, last_j, last_n = merged[-1]
                    if last_i + last_n == i and last_j + last_n == j:  # adjacent: one run
                        merged[-1] = (last_i, last_j, last_n + n)
                        continue
                merged.append((i, j, n))
            self.matching_blocks = [*merged, (len(self.a), len(self.b), 0)]
        return self.matching_blocks
