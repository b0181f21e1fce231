"""The scanner's single entry point: normalise, detect, settle overlaps, map back."""

from collections.abc import Sequence

from governance.scanning.contact import find_emails, find_ipv4, find_ipv6, find_phones, find_urls
from governance.scanning.document import Doc
from governance.scanning.financial import find_cards, find_crypto, find_ibans
from governance.scanning.findings import SPECIFICITY, Finding, ScanResult, resolve
from governance.scanning.names import find_honorific_names
from governance.scanning.national import find_digit_ids, find_pattern_ids
from governance.scanning.normalise import Normalised, normalise
from governance.scanning.secrets import (
    find_credentials,
    find_private_keys,
    find_tokens,
    find_url_credentials,
)
from governance.scanning.terms import ProtectedTerms

#: Regions whose national phone formats are recognised; "+" numbers are found anywhere.
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR")

DETECTORS = (
    find_private_keys,
    find_tokens,
    find_url_credentials,
    find_credentials,
    find_cards,
    find_ibans,
    find_crypto,
    find_digit_ids,
    find_pattern_ids,
    find_emails,
    find_ipv4,
    find_ipv6,
    find_urls,
    find_honorific_names,
)
_PHONE_RANK = SPECIFICITY["PHONE_NUMBER"]


def scan(
    text: str,
    *,
    protected_terms: ProtectedTerms | None = None,
    phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
    normalised: Normalised | None = None,
) -> ScanResult:
    """Find personal data, secrets and protected terms in ``text``.

    1. Normalise: NFKC, invisible characters removed, digits folded to ASCII.
    2. Run every detector over the normalised text; phone numbers last, skipping
       digits already claimed by a validated identifier (the phone matcher is
       the slowest detector by far).
    3. Settle overlaps (see :func:`~governance.scanning.findings.resolve`).
    4. Map offsets back to ``text``.

    ``normalised``: ``normalise(text)``, if the caller has it already.

    Pure: no I/O, no settings, no logging; safe to call from any thread.
    """
    if not text:
        return ScanResult(findings=())
    norm = normalised if normalised is not None else normalise(text)
    automaton = protected_terms.automaton() if protected_terms else None
    regions = tuple(region.upper() for region in phone_regions)  # phonenumbers wants "DE"
    doc = Doc(norm.text, phone_regions=regions, automaton=automaton)
    candidates = []
    for detector in DETECTORS:
        candidates.extend(detector(doc))
    if doc.has_digit:
        taken = [(c.start, c.end) for c in candidates if SPECIFICITY[c.type] > _PHONE_RANK]
        candidates.extend(find_phones(doc, taken))
    candidates.extend(doc.terms)
    kept, shadowed = resolve(candidates)
    return ScanResult(
        findings=tuple(_finding(norm, c) for c in kept),
        shadowed=tuple(_finding(norm, c) for c in shadowed),
        stripped=norm.stripped,
    )


def _finding(norm, candidate) -> Finding:
    start, end = norm.span(candidate.start, candidate.end)
    return Finding(candidate.type, start, end, candidate.score, candidate.note)
