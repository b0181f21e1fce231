"""Writing to the audit trail. Callers use :func:`record`, nothing else."""

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from audit import chain
from audit.models import AuditEvent
from config.middleware import current_request_id

# An arbitrary constant: the key of the PostgreSQL advisory lock that serialises appends.
_APPEND_LOCK_KEY = 0x57E3A2D


def record(
    *,
    action: str,
    actor=None,
    actor_label: str = "",
    target: models.Model | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    message: str = "",
    category: str = "",
    backend: str = "",
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    Appends are serialised (an advisory lock on PostgreSQL, SQLite's single
    writer elsewhere) so two writers can never link to the same predecessor.
    If this raises, the caller's transaction rolls back with it: an action
    that cannot be audited does not happen.
    """
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_APPEND_LOCK_KEY])
        head = AuditEvent.objects.order_by("-sequence").values("sequence", "hash").first()
        event = AuditEvent(
            sequence=(head["sequence"] + 1) if head else 1,
            occurred_at=timezone.now(),
            actor=actor,
            actor_label=actor_label or (actor.display_name if actor else "system"),
            request_id=current_request_id.get() if current_request_id.get() != "-" else "",
            action=action,
            outcome=outcome,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=_target_id(target),
            target_repr=str(target)[:200] if target is not None else "",
            category=category,
            backend=backend,
            before=before,
            after=after,
            details=details or {},
            message=message[:500],
            prev_hash=head["hash"] if head else chain.GENESIS_HASH,
        )
        event.hash = chain.link_hash(event.prev_hash, _row(event))
        event.save(force_insert=True)
    return event


def _target_id(target: models.Model | None) -> str:
    if target is None:
        return ""
    return str(getattr(target, "public_id", None) or target.pk)


def _row(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in chain.CHAINED_FIELDS}


def pseudonym(value: str) -> str:
    """A keyed hash for an identifier that must be linkable but not readable in the trail."""
    digest = hmac.new(settings.SECRET_KEY.encode(), value.strip().lower().encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def iter_chain_rows(batch_size: int = 5000):
    """Every event as a dict of chained columns plus hashes, in sequence order, in batches."""
    fields = [*chain.CHAINED_FIELDS, "prev_hash", "hash"]
    last = 0
    while True:
        batch = list(
            AuditEvent.objects.filter(sequence__gt=last)
            .order_by("sequence")
            .values(*fields)[:batch_size]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1]["sequence"]
