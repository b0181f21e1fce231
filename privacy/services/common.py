"""What every step on a data-subject request shares: its refusals, its lock, its audit
event (and how that names an officer), the check that the officer is not its subject, and
the hash of its receipt."""

import hashlib
import json

from audit.services import record
from governance.models import User
from privacy import access
from privacy.models import SubjectRequest

S = SubjectRequest.Status
Ground = SubjectRequest.RejectionGround


class PrivacyError(Exception):
    """A step that may not happen now; the message says why, for a person."""


class FieldRefused(PrivacyError):
    """A step refused for one value the officer gave (``field``: its form field's name): the
    page shows the reason beside that field, not as a message far from it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class IdentifiersMissing(FieldRefused):
    """A follow-up erasure refused: ``missing`` identifiers the first named were not given."""

    def __init__(self, field: str, message: str, *, missing: int) -> None:
        super().__init__(field, message)
        self.missing = missing


class FourEyesError(PrivacyError):
    """The approver is the person who scoped the request."""


def _locked(request: SubjectRequest, allowed, refusal: str) -> SubjectRequest:
    allowed = (allowed,) if isinstance(allowed, str) else tuple(allowed)
    request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
    if request.status not in allowed:
        raise PrivacyError(refusal)
    return request


def refuse_the_subject(request: SubjectRequest, actor: User) -> None:
    """A privacy officer does not handle a request about themselves (verify, scope, approve,
    reject, extend, run again), linked to their account or naming their email."""
    if access.is_about(request, actor):
        raise PrivacyError("This request is about you: another privacy officer handles it.")


def record_step(request: SubjectRequest, actor, action, details: dict) -> None:
    """A request's audit event: its kind and regime, and ``details``."""
    record(
        action=action,
        actor=actor,
        target=request,
        details={"kind": request.kind, "regime": request.regime, **details},
    )


def _public_id(user: User | None) -> str | None:
    """How the trail names an officer in its details (their label can be erased, this not)."""
    return str(user.public_id) if user else None


def receipt_hash(receipt: dict) -> str:
    """SHA-256 of the receipt's canonical JSON: anyone holding a copy can check it."""
    canonical = json.dumps(receipt, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
