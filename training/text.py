"""What changed between two versions of the policy document (line by line)."""

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "same" or "gap"
    text: str


def diff_lines(old: str, new: str, *, context: int = 2) -> list[DiffLine]:
    """The changed lines with ``context`` unchanged lines around them; "gap" marks a cut."""
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    for number, group in enumerate(matcher.get_grouped_opcodes(context)):
        if number:
            lines.append(DiffLine("gap", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("same", t) for t in matcher.a[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                lines += [DiffLine("removed", t) for t in matcher.a[i1:i2]]
            if tag in ("replace", "insert"):
                lines += [DiffLine("added", t) for t in matcher.b[j1:j2]]
    return lines


def diff_stats(old: str, new: str) -> tuple[int, int]:
    """(lines added, lines removed) from ``old`` to ``new``."""
    lines = diff_lines(old, new, context=0)
    return (
        sum(1 for line in lines if line.kind == "added"),
        sum(1 for line in lines if line.kind == "removed"),
    )
