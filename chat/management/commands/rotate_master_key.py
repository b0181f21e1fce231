"""Re-seal everything sealed with an older master key under the current (first) one.

Rotation: put the new key first in ``STEWARD_MASTER_KEY`` (``new,old``), restart every
process (web, workers, beat), run this, then drop the old key and restart again. Nothing
is changed while something is sealed with a key that is not configured (the old key left
out): every process would fail to open it. Messages are not touched: only the small
things sealed directly with the master key are (each conversation's data key,
backend credentials, protected-term lists, data-subject requests' identifiers
and archives), in batches, each row in its own short transaction, so it can
run while people chat and be run again after an interruption.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import QuerySet

from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation
from chat.sealing import rewrap
from governance import crypto
from governance.models import Backend, ProtectedTermList

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-seal what is sealed with an older master key (conversation keys, backend "
        "credentials, protected-term lists, data-subject requests' identifiers and archives) "
        "with the current one, the first in STEWARD_MASTER_KEY."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be re-sealed; change nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        columns = _sealed_columns()
        unknown = sum(_sealed_with_unknown_keys(rows, field) for _, rows, field, _ in columns)
        if unknown:
            raise CommandError(
                f"{unknown} sealed value{'s were' if unknown != 1 else ' was'} sealed with a "
                "master key that is not configured, so nothing was re-sealed. List every older "
                "key after the new one (STEWARD_MASTER_KEY=new,old), restart every process, "
                "then run this again."
            )
        counts: dict[str, int] = {}
        for what, rows, field, reseal in columns:
            counts[what] = counts.get(what, 0) + _reseal_each(rows, field, reseal, dry_run)
        for what, count in counts.items():
            verb = "to re-seal" if dry_run else "re-sealed"
            self.stdout.write(f"{what}: {count} {verb}")
        if not any(counts.values()):
            self.stdout.write(_nothing_to_reseal())
        if not dry_run:
            record(
                action=AuditEvent.Action.MASTER_KEY_ROTATED,
                actor_label="rotate_master_key",
                details={k.replace(" ", "_"): v for k, v in counts.items()},
            )


def _nothing_to_reseal() -> str:
    """Said when every value is under the first key: the state after a rotation (run again,
    it is no error), or the keys listed in the wrong order (old first)."""
    if "," not in settings.STEWARD_MASTER_KEY:
        return "Nothing to re-seal: every value is sealed with the master key."
    return (
        "Nothing to re-seal: every value is sealed with the first key already. (If the new "
        "key is listed after the old one, it must come first: STEWARD_MASTER_KEY=new,old.)"
    )


def _sealed_columns() -> list[tuple[str, QuerySet, str, Callable]]:
    """Every column sealed directly with the master key: what the count calls its rows,
    the rows, the column, and how to re-seal one row."""
    from privacy.models import SubjectRequest

    return [
        ("conversation keys", Conversation.objects.all(), "data_key_wrapped", _reseal_conversation),
        (
            "backend credentials",
            Backend.objects.exclude(credential_encrypted=b""),
            "credential_encrypted",
            _reseal_backend,
        ),
        (
            "term lists",
            ProtectedTermList.objects.exclude(terms_sealed=b""),
            "terms_sealed",
            _reseal_term_list,
        ),
        (
            "subject requests",
            SubjectRequest.objects.exclude(identifiers_sealed=b""),
            "identifiers_sealed",
            _reseal_subject_request,
        ),
        (
            "subject requests",
            SubjectRequest.objects.exclude(archive_sealed=b""),
            "archive_sealed",
            _reseal_subject_request,
        ),
    ]


def _reseal_conversation(conversation: Conversation) -> None:
    wrapped = bytes(conversation.data_key_wrapped)
    Conversation.objects.filter(pk=conversation.pk, data_key_wrapped=wrapped).update(
        data_key_wrapped=rewrap(wrapped, conversation.public_id)
    )


def _reseal_backend(backend: Backend) -> None:
    backend.seal_credential(backend.open_credential())
    backend.save(update_fields=["credential_encrypted"])


def _reseal_term_list(term_list: ProtectedTermList) -> None:
    term_list.set_terms(term_list.terms())
    term_list.save(update_fields=["terms_sealed", "term_count"])


def _reseal_subject_request(request) -> None:
    from privacy import archive

    fields = []
    if request.identifiers_sealed:
        request.seal_identifiers(request.identifiers())
        fields.append("identifiers_sealed")
    if request.archive_sealed:
        request.archive_sealed = archive.seal(request, archive.open_archive(request))
        fields.append("archive_sealed")
    request.save(update_fields=fields)


def _sealed_with_unknown_keys(rows: QuerySet, field: str) -> int:
    """How many of ``rows``' ``field`` no configured master key opens (read before anything
    changes)."""
    return sum(
        not crypto.sealed_with_a_configured_key(bytes(blob))
        for blob in rows.values_list(field, flat=True).iterator(chunk_size=BATCH)
    )


def _reseal_each(rows: QuerySet, field: str, reseal: Callable, dry_run: bool) -> int:
    """Re-seal each row whose ``field`` an older master key sealed, a batch of rows at a time
    and each in its own transaction; how many there were."""
    done = 0
    last = 0
    while batch := list(rows.filter(pk__gt=last).order_by("pk")[:BATCH]):
        for row in batch:
            if crypto.sealed_with_current_key(bytes(getattr(row, field))):
                continue
            done += 1
            if not dry_run:
                with transaction.atomic():
                    reseal(row)
        last = batch[-1].pk
    return done
