"""Telling the auditors when the trail fails its verification.

A broken chain proves tampering only to someone who looks: the verification's event sits in
the very trail it doubts, on a page nobody may open for weeks. So a failed verification is
logged as an error (for whoever watches the logs) and mailed to every active auditor, each
time it fails, with what failed and what to do.
"""

import logging

from django.core.mail import send_mail
from django.template.loader import render_to_string

from audit.models import AuditEvent
from governance.access import role_holders
from governance.roles import Role

log = logging.getLogger(__name__)


def verification_failed(verification: AuditEvent) -> int:
    """Log and mail a failed verification; the number of auditors the mail went to."""
    details = verification.details or {}
    what_failed = _what_failed(details)
    log.error(
        "The audit trail failed its verification (event #%s): %s",
        verification.sequence,
        what_failed,
    )
    auditors = list(role_holders(Role.AUDITOR).values_list("email", flat=True))
    if not auditors:
        log.warning("No active auditor to tell that the audit trail failed its verification.")
        return 0
    body = render_to_string(
        "audit/email/verification_failed.txt",
        {"event": verification, "what_failed": what_failed, "details": details},
    )
    try:
        send_mail("Steward: the audit trail failed its verification", body, None, auditors)
    except Exception as exc:  # smtplib's errors, and a mail service library's own
        # The exception's text may quote the auditors' addresses: its type only.
        log.warning("The auditors were not mailed about it (%s).", type(exc).__name__)
        return 0
    return len(auditors)


def _what_failed(details: dict) -> str:
    if details.get("error"):
        return f"it could not finish ({details['error']})"
    parts = []
    if details.get("first_bad_sequence") is not None:
        parts.append(
            f"event #{details['first_bad_sequence']} is the first that fails "
            f"({details.get('reason', 'no reason given')})"
        )
    # Every problem besides the chain's first break, each a sentence (audit.services.verify_trail):
    # a checkpoint that does not match, checkpoint rows or events removed.
    problems = details.get("checkpoint_problems") or []
    if len(problems) == 1:
        parts.append(problems[0])
    elif problems:
        parts.append(f"{problems[0]}, and {len(problems) - 1} more problem(s) listed below")
    return "; ".join(parts) or "the chain does not verify"
