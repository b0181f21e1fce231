"""Telling the recipients of erased data: GDPR Art. 19, CCPA § 1798.105(c).

A completed erasure's receipt lists the backends that received the person's data
(:func:`privacy.scope.recipients`). Each provider that may still hold it is owed a request
to erase it too, and officers record when and how they asked. A recipient needs none when
it runs on the organisation's own servers (erasing here erased it), received placeholders
only (never the data itself: what each call sent was checked for the values the request
named), or keeps nothing it receives (zero data retention). Whatever cannot be shown to have
kept nothing is owed one, to be safe: a backend deleted or renamed since, a provider that
states no retention, calls in a conversation whose text is not kept, a receipt from before
what was sent was checked. An officer may still tell a provider that was owed nothing.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import IntegerField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import Backend, HostingClass
from privacy import notices
from privacy.models import RecipientNotice, SubjectRequest
from privacy.services import FieldRefused, PrivacyError, record_step, refuse_the_subject

ON_PREMISE = "on_premise"
PLACEHOLDERS = "placeholders"
ZERO_RETENTION = "zero_retention"
#: Why a recipient needs no notice, as the officers read it (the letter words it for the person).
REASONS = {
    ON_PREMISE: "runs on the organisation's own servers",
    PLACEHOLDERS: "received placeholders only",
    ZERO_RETENTION: "zero data retention",
}


#: How a provider was told, in a few words (``RecipientNotice.how``).
HOW_MAX_LENGTH = RecipientNotice._meta.get_field("how").max_length


def why_not_owed(entry: dict, retention: Mapping[str, int | None]) -> str:
    """Why the receipt's recipient ``entry`` needs no notice (a key of :data:`REASONS`), or ""
    when it is owed one. ``retention``: each configured backend's provider_retention_days."""
    if entry.get("hosting_class") == HostingClass.ON_PREM:  # as the trail named it then
        return ON_PREMISE
    if entry.get("in_clear") == 0 and entry.get("unchecked") == 0:
        return PLACEHOLDERS
    if retention.get(entry["backend"]) == 0:
        return ZERO_RETENTION
    return ""


@dataclass(frozen=True)
class Recipient:
    """A backend a completed erasure's receipt lists, whether it is owed a notice, and the
    record that it was told."""

    backend: str
    hosting_class: str
    region: str
    calls: int
    in_clear: int | None
    #: Calls in conversations whose text is not kept: none shows what they carried.
    unchecked: int | None
    reason: str  # "" when it is owed a notice
    notice: RecipientNotice | None

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, "")


@dataclass(frozen=True)
class ErasureRecipients:
    """A completed erasure's recipients, in the receipt's order."""

    rows: list[Recipient]

    @property
    def told(self) -> list[Recipient]:
        return [row for row in self.rows if row.notice is not None]

    @property
    def to_tell(self) -> list[Recipient]:
        return [row for row in self.rows if not row.reason and row.notice is None]

    @property
    def not_owed(self) -> list[Recipient]:
        return [row for row in self.rows if row.reason and row.notice is None]

    @property
    def tellable_anyway(self) -> list[Recipient]:
        """Not owed a notice nor told, and not the organisation's own: an officer may tell
        them all the same."""
        return [row for row in self.not_owed if row.reason != ON_PREMISE]


def is_completed_erasure(request: SubjectRequest) -> bool:
    return (
        request.kind == SubjectRequest.Kind.ERASURE
        and request.status == SubjectRequest.Status.COMPLETED
    )


def of_erasure(request: SubjectRequest) -> ErasureRecipients | None:
    """The recipients of a completed erasure, each owed a notice or not and told or not;
    None for any other request. Two queries: the backends' retention and the notices."""
    if not is_completed_erasure(request):
        return None
    retention = _retention()
    told = {
        notice.backend: notice for notice in request.recipient_notices.select_related("recorded_by")
    }
    return ErasureRecipients(
        [
            Recipient(
                backend=entry["backend"],
                hosting_class=entry.get("hosting_class") or "",
                region=entry.get("region") or "",
                calls=entry.get("calls", 0),
                in_clear=entry.get("in_clear"),
                unchecked=entry.get("unchecked"),
                reason=why_not_owed(entry, retention),
                notice=told.get(entry["backend"]),
            )
            for entry in (request.receipt or {}).get("recipients", [])
        ]
    )


def _retention() -> dict[str, int | None]:
    return dict(Backend.objects.values_list("name", "provider_retention_days"))


def record_notice(
    *, request: SubjectRequest, actor, backend: str, told_on: dt.date, how: str
) -> RecipientNotice:
    """Record that the provider of ``backend`` was asked on ``told_on`` to erase what it
    received of the person's data; ``how`` stays on the row, out of the audit trail (an
    address there may be a person's)."""
    how = how.strip()
    if not how:
        raise FieldRefused(
            "how", 'Say how the provider was told: "email to privacy@vendor.example".'
        )
    if len(how) > HOW_MAX_LENGTH:
        raise FieldRefused(
            "how", f"Say how the provider was told in {HOW_MAX_LENGTH} characters at most."
        )
    if told_on > timezone.localdate():
        raise FieldRefused("told_on", "The day the provider was told cannot be in the future.")
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        refuse_the_subject(request, actor)
        _refuse_unowed(request, backend, told_on)
        notice = RecipientNotice.objects.create(
            request=request, backend=backend, told_on=told_on, how=how, recorded_by=actor
        )
        record_step(
            request,
            actor,
            AuditEvent.Action.DSR_RECIPIENT_TOLD,
            {"backend": backend, "told_on": told_on.isoformat()},
        )
    return notice


def _refuse_unowed(request: SubjectRequest, backend: str, told_on: dt.date) -> None:
    found = of_erasure(request)
    if found is None:
        raise PrivacyError(
            "Recipients are told of an erasure: only a completed erasure records that they were."
        )
    entry = next((row for row in found.rows if row.backend == backend), None)
    if entry is None:
        raise PrivacyError(f"{backend} did not receive this person's data: it is not a recipient.")
    if entry.reason == ON_PREMISE:
        raise PrivacyError(f"{backend} needs no notice: it {entry.reason_label}.")
    if earlier := entry.notice:
        raise PrivacyError(
            f"That {backend} was told is already recorded: told on {_day(earlier.told_on)} "
            f"({earlier.how})."
        )
    completed = timezone.localdate(request.completed_at)
    if told_on < completed:
        raise FieldRefused(
            "told_on",
            f"The provider cannot have been told before the erasure was completed "
            f"({_day(completed)}).",
        )


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


# --- the desk ----------------------------------------------------------------------------


def recorded_since() -> dt.datetime | None:
    """When this installation began to record these notices: the migration that added the
    record. The desk does not ask for erasures completed before then."""
    return notices.applied_on("0012_recipient_notice")


def erasures_to_tell() -> list[SubjectRequest]:
    """Completed erasures with recipients owed a notice and not told yet, oldest first, each
    with ``recipients_to_tell``: how many. One query, the rule of :func:`why_not_owed` in
    SQL over each receipt's recipients, so the desk reads no receipt."""
    owing = RawSQL(
        _TO_TELL_SQL[connection.vendor], [HostingClass.ON_PREM], output_field=IntegerField()
    )
    requests = (
        SubjectRequest.objects.filter(
            kind=SubjectRequest.Kind.ERASURE, status=SubjectRequest.Status.COMPLETED
        )
        .annotate(recipients_to_tell=owing)
        .filter(recipients_to_tell__gt=0)
        .only("public_id", "reference", "regime", "completed_at")
        .order_by("completed_at")
    )
    if since := recorded_since():
        requests = requests.filter(completed_at__gte=since)
    return list(requests)


# Each recipient of the receipt (``entry``) not on premises (as the trail named it), not
# shown to have received placeholders only (in_clear and unchecked both 0), whose backend
# is not configured with zero retention, and that no notice of this request names.
_NOT_KEPT_NOR_TOLD = """
    AND NOT EXISTS (
        SELECT 1 FROM governance_backend b
        WHERE b.name = {backend} AND b.provider_retention_days = 0
    )
    AND NOT EXISTS (
        SELECT 1 FROM privacy_recipientnotice n
        WHERE n.request_id = privacy_subjectrequest.id AND n.backend = {backend}
    )
"""
_TO_TELL_SQL = {
    "postgresql": """(
        SELECT COUNT(*) FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(privacy_subjectrequest.receipt -> 'recipients') = 'array'
            THEN privacy_subjectrequest.receipt -> 'recipients' ELSE '[]'::jsonb END
        ) AS entry
        WHERE COALESCE(entry ->> 'hosting_class', '') <> %s
        AND NOT (
            COALESCE(jsonb_typeof(entry -> 'in_clear'), '') = 'number'
            AND (entry ->> 'in_clear')::numeric = 0
            AND COALESCE(jsonb_typeof(entry -> 'unchecked'), '') = 'number'
            AND (entry ->> 'unchecked')::numeric = 0
        )"""
    + _NOT_KEPT_NOR_TOLD.format(backend="(entry ->> 'backend')")
    + ")",
    "sqlite": """(
        SELECT COUNT(*) FROM json_each(privacy_subjectrequest.receipt, '$.recipients') AS entry
        WHERE COALESCE(json_extract(entry.value, '$.hosting_class'), '') <> %s
        AND NOT (
            COALESCE(json_type(entry.value, '$.in_clear'), '') IN ('integer', 'real')
            AND json_extract(entry.value, '$.in_clear') = 0
            AND COALESCE(json_type(entry.value, '$.unchecked'), '') IN ('integer', 'real')
            AND json_extract(entry.value, '$.unchecked') = 0
        )"""
    + _NOT_KEPT_NOR_TOLD.format(backend="json_extract(entry.value, '$.backend')")
    + ")",
}
