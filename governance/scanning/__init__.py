"""The scanner: personal data, secrets and protected terms in chat messages.

Pure Python (no ORM, no I/O, no settings at call time), so the policy engine,
``manage.py pii_scan`` and the benchmarks all call it the same way::

    terms = ProtectedTerms([("Acme Corp", "client"), ("Jane Doe", "staff")])
    result = scan(text, protected_terms=terms)
    for finding in result.findings:
        finding.type, finding.start, finding.end, finding.score, finding.note
"""

from governance.scanning.base import Entity
from governance.scanning.findings import Finding, ScanResult
from governance.scanning.scanner import DEFAULT_PHONE_REGIONS, scan
from governance.scanning.terms import ProtectedTerms

__all__ = ["DEFAULT_PHONE_REGIONS", "Entity", "Finding", "ProtectedTerms", "ScanResult", "scan"]
