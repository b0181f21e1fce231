"""Findings, the scan result, and how overlapping candidates are settled."""

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from governance.scanning.base import NATIONAL_IDS, Candidate, Entity

# When candidates overlap, the more specific kind wins: a checksum-validated
# identifier over a pattern, a pattern over a list entry, anything over a URL.
# Secrets rank first because a token inside a URL must be treated as a token.
SPECIFICITY: dict[str, int] = {
    Entity.SECRET: 90,
    Entity.IBAN_CODE: 85,
    Entity.CRYPTO: 80,
    Entity.CREDIT_CARD: 80,
    **{entity: 70 for entity in NATIONAL_IDS},
    Entity.EMAIL_ADDRESS: 60,
    Entity.IP_ADDRESS: 55,
    Entity.PHONE_NUMBER: 50,
    Entity.PERSON: 40,
    Entity.PROTECTED_TERM: 40,
    Entity.URL: 10,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity; ``start``/``end`` index the original text (end exclusive)."""

    type: str
    start: int
    end: int
    score: float
    #: How it was validated ("Visa, Luhn", "context word and check"); never message text.
    note: str

    def as_dict(self) -> dict:
        """The public JSON shape (``pii_scan``'s contract)."""
        return {"type": str(self.type), "start": self.start, "end": self.end, "score": self.score}


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a scan found.

    ``findings`` never overlap and are ordered by position: they are what gets
    redacted. ``shadowed`` are findings of another type hidden under a kept one
    (an e-mail inside a URL that held a token, a codename inside an e-mail):
    not redacted separately, but a policy or subject index may still want them.
    """

    findings: tuple[Finding, ...]
    shadowed: tuple[Finding, ...] = ()
    #: Invisible characters removed before matching: a sign of deliberate obfuscation.
    stripped: int = 0

    def counts(self) -> dict[str, int]:
        """Number of findings per type."""
        return dict(Counter(str(f.type) for f in self.findings))

    @property
    def types(self) -> frozenset[str]:
        return frozenset(str(f.type) for f in self.findings)


def _rank(candidate: Candidate) -> tuple:
    # Fully ordered, so the outcome never depends on detector order.
    return (
        -SPECIFICITY[candidate.type],
        -candidate.score,
        candidate.start - candidate.end,
        candidate.start,
        candidate.type,
        candidate.note,
    )


def resolve(candidates: Iterable[Candidate]) -> tuple[list[Candidate], list[Candidate]]:
    """Keep the best of overlapping candidates: ``(kept, shadowed)``, both by position.

    Greedy by rank (specificity, score, length, position): a candidate is kept
    when it overlaps nothing kept before it. A loser of the same type as the
    winner is a duplicate and is dropped; one of another type is ``shadowed``.
    """
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Candidate] = []
    shadowed: list[Candidate] = []
    for candidate in sorted(set(candidates), key=_rank):
        i = bisect_left(starts, candidate.start)
        j = i - 1 if i and ends[i - 1] > candidate.start else i
        k = i
        while k < len(starts) and starts[k] < candidate.end:
            k += 1
        if j == k:
            starts.insert(i, candidate.start)
            ends.insert(i, candidate.end)
            kept.insert(i, candidate)
        elif all(kept[n].type != candidate.type for n in range(j, k)):
            shadowed.append(candidate)
    shadowed.sort(key=lambda c: (c.start, c.end, c.type))
    return kept, shadowed
