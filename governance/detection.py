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
from governance.scanning.normalise import Normalised, fold, normalise

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
MAX_OWN_PROBES = 100
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
    for probe in (*_PROBES, *_own_probes(pattern)):
        try:
            compiled.search(probe, timeout=PROBE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise PatternError(
                "This pattern is too slow on some inputs (catastrophic backtracking: look for "
                "nested repetition like (a+)+ or (a|a)*). Simplify it."
            ) from None


def _own_probes(pattern: str):
    """Long runs of each character the pattern names, each ended by one it cannot expect.

    Fixed probes miss a pattern that backtracks only on its own characters, such as
    ``(x+x+)+y`` or, matching case, ``(A+)+$``: it would time out on such a run in a
    message, and block it.
    """
    chars = [c for c in dict.fromkeys(pattern) if c.isprintable() and not c.isspace()]
    for char in chars[:MAX_OWN_PROBES]:
        yield char * 2000 + "\x00"


def keywords(pattern: str) -> list[str]:
    return [line.strip() for line in pattern.splitlines() if line.strip()]


class TermsError(ValueError):
    """Terms that cannot be read; the message says why, for a person."""


def _csv_rows(text: str) -> list[list[str]]:
    """The rows of an uploaded CSV file, or of one pasted line, that hold a term, each as
    its non-empty cells (one term each)."""
    rows = []
    try:
        # skipinitialspace: the quotes of `Globex, "Acme, Inc."` count after the space
        for row in csv.reader(io.StringIO(text), skipinitialspace=True):
            if cells := [cell.strip() for cell in row if cell.strip()]:
                rows.append(cells)
    except csv.Error:  # a cell past csv's field limit: no term is that long
        raise TermsError(
            f"One term runs past {csv.field_size_limit():,} characters: is a quotation mark "
            "left open?"
        ) from None
    return rows


def _pasted_rows(text: str) -> list[list[str]]:
    """The rows of the paste box (and of the REST API's string of terms).

    Several lines: each non-empty line is one term, commas and all ("Acme, Inc."); a line
    wholly in double quotes loses them as a CSV cell does (the API writes a list of terms
    so). A single line is a comma-separated list, read as a CSV row ("Acme, Globex" is two
    terms, "\"Acme, Inc.\"" one): what the box and the API have always said they take.
    Splitting every line at its commas made a pasted column of company names into halves
    ("Acme" and "Inc."), and a half as common as "Inc." matched other customers' names.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1:
        return _csv_rows(lines[0])
    return [[term] for term in map(_unquoted, lines) if term]


def _unquoted(line: str) -> str:
    """A line as a CSV cell of its own: ``"Globex, Inc"`` is Globex, Inc, and a doubled
    quotation mark inside is one; any other line stays as it is."""
    inner = line[1:-1]
    if len(line) >= 2 and line[0] == line[-1] == '"' and '"' not in inner.replace('""', ""):
        return inner.replace('""', '"').strip()
    return line


#: What a spreadsheet's column headings are made of ("Term", "Company name", "client_id").
#: A name, a codename or a company is hardly ever only these words; where one is, the save
#: says the row was left out, and the person moves it further down.
HEADING_WORDS = frozenset(
    word + plural
    for word in (
        "term keyword word phrase value name alias label entry "
        "client customer company account partner vendor supplier organisation organization "
        "project codename code person staff employee member contact email "
        "first last full given family surname kind type category list id note comment "
        "description region country"
    ).split()
    for plural in ("", "s")
) | {"companies", "categories", "entities", "entity", "aliases"}
_WORD = regex.compile(r"\p{L}+")


def read_terms(
    text: str, *, pasted: bool, skip_heading: bool = False
) -> tuple[list[str], tuple[str, ...]]:
    """The terms of a paste or an uploaded CSV file and, with ``skip_heading``, the cells of
    a first row left out as column headings (none, if it was not).

    A spreadsheet's export begins with its headings ("Term,Kind"), which would otherwise be
    protected terms that match ordinary messages. A row is taken for headings only when
    every cell is made of :data:`HEADING_WORDS` and other rows follow: several columns alone
    do not make one (a file of terms two a row has none), and a lone row is all the terms.
    """
    rows = _pasted_rows(text) if pasted else _csv_rows(text)
    heading: tuple[str, ...] = ()
    if skip_heading and len(rows) > 1 and all(map(_is_heading, rows[0])):
        heading, rows = tuple(rows[0]), rows[1:]
    return [term for row in rows for term in row], heading


def _is_heading(cell: str) -> bool:
    """Whether a cell reads as a column heading: heading words only, and no digit ("Client
    4711", "Project-7" and "Staff ID 7731" are terms)."""
    if any(character.isdigit() for character in cell):
        return False
    words = _WORD.findall(cell.casefold())
    return bool(words) and all(word in HEADING_WORDS for word in words)


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
    """Scan ``text`` and run every active rule over it.

    Rules read the text as the scanner does (see
    :func:`~governance.scanning.normalise.normalise`: no invisible characters, wide
    forms folded), so a zero-width space inside a ticket number does not hide it
    from a pattern; what they match is given as spans of ``text``.
    """
    found = detectors(version)
    norm = normalise(text)
    result = scan(text, protected_terms=found.terms, normalised=norm)
    if not found.rules:
        return Detection(scan=result, rule_hits=())
    folded = fold(norm.text)
    hits = []
    for rule in found.rules:
        spans = _matches(rule, norm, folded)
        if spans is None:
            # A rule that cannot finish in time counts as matched: fail closed.
            hits.append(
                RuleHit(
                    name=rule.name,
                    reason=f"{rule.reason} (the rule timed out)",
                    action=Action.BLOCK,
                    min_category=rule.min_category,
                )
            )
        elif spans:
            hits.append(
                RuleHit(
                    name=rule.name,
                    reason=rule.reason,
                    action=rule.action,
                    min_category=rule.min_category,
                    spans=tuple(norm.span(start, end) for start, end in spans),
                )
            )
    return Detection(scan=result, rule_hits=tuple(hits))


def _matches(rule: _CompiledRule, norm: Normalised, folded: str) -> list[tuple[int, int]] | None:
    """Where ``rule`` matches the normalised text; None when it ran out of time.

    A rule that replaces its match needs every match; any other acts once, on the
    first. The time limit holds for the whole search (``finditer`` adds up the time
    spent matching over every match), so a pattern quick to its first match but slow
    over the rest of a long message still stops in time, and blocks.
    """
    every = rule.action is Action.PSEUDONYMISE
    if isinstance(rule.matcher, ProtectedTerms):
        # Keywords match like protected terms: folded (case, accents) and on word boundaries.
        spans = [(c.start, c.end) for c in rule.matcher.find(folded)]
        return spans if every else spans[:1]
    pattern: regex.Pattern = rule.matcher  # type: ignore[assignment]
    try:
        if every:
            return [m.span() for m in pattern.finditer(norm.text, timeout=RULE_TIMEOUT_SECONDS)]
        match = pattern.search(norm.text, timeout=RULE_TIMEOUT_SECONDS)
    except TimeoutError:
        return None
    return [match.span()] if match else []
