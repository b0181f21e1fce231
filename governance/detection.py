"""Admin detection rules and protected-term lists, compiled and run beside the scanner.

The database is read once per change: compiled rules and the term automaton
are cached per process and rebuilt after any change to the policy tables (see
:mod:`governance.policy_cache`), so a scan costs one query: the version check.
"""

import csv
import io
from dataclasses import dataclass

import regex

from governance.models import DetectionRule, ProtectedTermList
from governance.policy import Action, RuleHit
from governance.policy_cache import Version, cached, read_version
from governance.scanning import ProtectedTerms, ScanResult, scan
from governance.scanning.normalise import fold, normalise

#: How long one rule may run on one message before it counts as matched.
RULE_TIMEOUT_SECONDS = 0.05
#: What a pattern must get through, fast, before it is saved.
PROBE_TIMEOUT_SECONDS = 0.2
_PROBES = (
    "a" * 5000 + "!",
    "a" * 2500 + "b" * 2500 + "!",
    ("ab" * 2500) + "!",
    " " * 5000 + "x",
    "1" * 5000 + "x",
    ("x@" * 2000) + ".",
    "\n".join(["lorem ipsum dolor sit amet"] * 200),
)
MAX_PATTERN_LENGTH = 2000
MAX_KEYWORDS = 5000


class PatternError(ValueError):
    """A rule pattern that may not be saved; the message says why, for a person."""


def check_pattern(kind: str, pattern: str, *, case_sensitive: bool = False) -> None:
    """Refuse invalid regular expressions and ones that backtrack catastrophically."""
    if not pattern.strip():
        raise PatternError("Enter at least one keyword or a pattern.")
    if kind == DetectionRule.Kind.KEYWORDS:
        words = keywords(pattern)
        if not words:
            raise PatternError("Enter at least one keyword, one per line.")
        if len(words) > MAX_KEYWORDS:
            raise PatternError(f"At most {MAX_KEYWORDS} keywords per rule.")
        return
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"Patterns are limited to {MAX_PATTERN_LENGTH} characters.")
    try:
        compiled = regex.compile(pattern, 0 if case_sensitive else regex.IGNORECASE)
    except regex.error as exc:
        raise PatternError(f"This is not a valid regular expression: {exc}.") from None
    if compiled.search(""):
        raise PatternError("This pattern matches empty text, so it would match every message.")
    for probe in _PROBES:
        try:
            compiled.search(probe, timeout=PROBE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise PatternError(
                "This pattern is too slow on some inputs (catastrophic backtracking: look for "
                "nested repetition like (a+)+ or (a|a)*). Simplify it."
            ) from None


def keywords(pattern: str) -> list[str]:
    return [line.strip() for line in pattern.splitlines() if line.strip()]


def parse_terms(text: str) -> list[str]:
    """Terms from pasted lines or an uploaded CSV (every non-empty cell, one term each)."""
    terms = []
    for row in csv.reader(io.StringIO(text)):
        terms.extend(cell.strip() for cell in row if cell.strip())
    return terms


@dataclass(frozen=True)
class _CompiledRule:
    name: str
    reason: str
    action: Action
    min_category: int | None
    matcher: object  # regex.Pattern, or ProtectedTerms for keyword rules


@dataclass(frozen=True)
class Detectors:
    terms: ProtectedTerms
    rules: tuple[_CompiledRule, ...]


@dataclass(frozen=True)
class Detection:
    scan: ScanResult
    rule_hits: tuple[RuleHit, ...]


def detectors(version: Version | None = None) -> Detectors:
    """The compiled rules and term automaton, rebuilt only after a change.

    ``version``: a reading the caller already made (saves a round trip).
    """
    return cached("detectors", version or read_version(), _build)


def _build() -> Detectors:
    pairs = []
    for term_list in ProtectedTermList.objects.filter(is_active=True):
        pairs.extend((term, term_list.kind) for term in term_list.terms())
    rules = []
    for rule in DetectionRule.objects.filter(is_active=True).select_related("min_category"):
        if rule.kind == DetectionRule.Kind.KEYWORDS:
            matcher: object = ProtectedTerms((word, "keyword") for word in keywords(rule.pattern))
        else:
            flags = 0 if rule.case_sensitive else regex.IGNORECASE
            matcher = regex.compile(rule.pattern, flags)
        rules.append(
            _CompiledRule(
                name=rule.name,
                reason=rule.reason,
                action=Action(rule.action),
                min_category=rule.min_category.number if rule.min_category else None,
                matcher=matcher,
            )
        )
    return Detectors(terms=ProtectedTerms(pairs), rules=tuple(rules))


def detect(text: str, *, version: Version | None = None) -> Detection:
    """Scan ``text`` and run every active rule over it."""
    found = detectors(version)
    result = scan(text, protected_terms=found.terms)
    hits = []
    for rule in found.rules:
        span = _first_match(rule, text)
        if span is None:
            continue
        start, end = span
        hits.append(
            RuleHit(
                name=rule.name,
                reason=rule.reason if end >= 0 else f"{rule.reason} (the rule timed out)",
                # A rule that cannot finish in time counts as matched: fail closed.
                action=rule.action if end >= 0 else Action.BLOCK,
                min_category=rule.min_category,
                start=max(start, 0),
                end=max(end, 0),
            )
        )
    return Detection(scan=result, rule_hits=tuple(hits))


def _first_match(rule: _CompiledRule, text: str) -> tuple[int, int] | None:
    """The first match's span, None for no match, (-1, -1) for a timeout."""
    if isinstance(rule.matcher, ProtectedTerms):
        # Keywords match like protected terms: folded (case, accents, invisible
        # characters) and on word boundaries.
        norm = normalise(text)
        for candidate in rule.matcher.find(fold(norm.text)):
            return norm.span(candidate.start, candidate.end)
        return None
    try:
        match = rule.matcher.search(text, timeout=RULE_TIMEOUT_SECONDS)  # type: ignore[attr-defined]
    except TimeoutError:
        return (-1, -1)
    return match.span() if match else None
