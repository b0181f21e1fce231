"""Telling the auditors when the trail fails its verification.

A broken chain proves tampering only to someone who looks: the verification's event sits in
the very trail it doubts, on a page nobody may open for weeks. So a failed verification is
logged as an error (for whoever watches the logs) and mailed to every active auditor, each
time it fails, with what failed and what to do. A checkpoint that could not be copied off
the machine is told the same way: until the copy works again, nothing outside the database
vouches for the newest events.
"""

import logging
from collections.abc import Callable

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
    return _mail_auditors(
        "Steward: the audit trail failed its verification",
        lambda: render_to_string(
            "audit/email/verification_failed.txt",
            {"event": verification, "what_failed": what_failed, "details": details},
        ),
        about="the audit trail failed its verification",
    )


def uploaded_copy_disagrees(check: AuditEvent) -> int:
    """Log and mail that the trail does not hold a validly signed checkpoint of a file an
    auditor uploaded (the check's actor, named in the mail, never in the log); the number
    of auditors the mail went to. Only this of an upload's outcomes is mailed: lines that do
    not verify are the file's problem, and what the stored checkpoints show, the trail's own
    verification tells (so a file does not mail everyone each time it is uploaded)."""
    problems = check.details.get("kept_problems") or []
    what_failed = _listed(problems) or "its checkpoints do not match"
    log.error(
        "The audit trail does not hold a checkpoint of an uploaded file (event #%s): %s",
        check.sequence,
        what_failed,
    )
    return _mail_auditors(
        "Steward: the audit trail does not match an uploaded checkpoints file",
        lambda: render_to_string(
            "audit/email/uploaded_copy_disagrees.txt",
            {"event": check, "what_failed": what_failed, "problems": problems},
        ),
        about="the audit trail does not match an uploaded checkpoints file",
    )


def checkpoint_copy_failed(sequence: int, error: str) -> int:
    """Mail that the checkpoint at ``sequence`` was not copied to the file kept off the
    machine (``error``: the exception's type); the number of auditors the mail went to."""
    body = (
        f"Steward signed a checkpoint of its audit trail at event #{sequence}, but could not "
        f"append it to STEWARD_AUDIT_CHECKPOINT_FILE ({error}). The checkpoint itself is "
        "stored, and its line was logged (steward.audit.checkpoints).\n\n"
        "That file is the copy of the checkpoints that the database's owner cannot rewrite: "
        "until it is written again, events cut off the end of the trail after the last "
        "checkpoint it holds would go unnoticed.\n\n"
        "What to do:\n"
        "- Ask whoever runs Steward to check the file's mount (is it there, writable by "
        "Steward's workers, not full?): the server log names the error.\n"
        "- Meanwhile keep a copy yourself: Audit trail, Checkpoints, Download all "
        "checkpoints.\n\n"
        "This mail comes after every checkpoint that could not be copied (by default hourly).\n"
    )
    return _mail_auditors(
        "Steward: an audit checkpoint was not copied off the machine",
        lambda: body,
        about="a checkpoint was not copied",
    )


def _mail_auditors(subject: str, body: Callable[[], str], *, about: str) -> int:
    """Mail every active auditor; how many it went to (0: none, or the mail failed)."""
    auditors = list(role_holders(Role.AUDITOR).values_list("email", flat=True))
    if not auditors:
        log.warning("No active auditor to tell that %s.", about)
        return 0
    try:
        send_mail(subject, body(), None, auditors)
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
    if problems := _listed(details.get("checkpoint_problems") or []):
        parts.append(problems)
    return "; ".join(parts) or "the chain does not verify"


def _listed(problems: list[str]) -> str:
    """The first problem, and how many more the mail lists ("" for none)."""
    if len(problems) > 1:
        return f"{problems[0]}, and {len(problems) - 1} more problem(s) listed below"
    return problems[0] if problems else ""
