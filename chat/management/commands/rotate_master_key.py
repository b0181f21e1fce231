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

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.models import AuditEvent
from audit.services import record
from chat.models import Conversation
from chat.sealing import rewrap
from governance import crypto
from governance.models import Backend, ProtectedTermList

BATCH = 500


class Command(BaseCommand):
    help = (
        "Re-seal conversation keys, backend credentials and term lists with the current master key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be re-sealed; change nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        unknown = _sealed_with_unknown_keys()
        if unknown:
            raise CommandError(
                f"{unknown} sealed value{'s were' if unknown != 1 else ' was'} sealed with a "
                "master key that is not configured, so nothing was re-sealed. List every older "
                "key after the new one (STEWARD_MASTER_KEY=new,old), restart every process, "
                "then run this again."
            )
        counts = {
            "conversation keys": self._conversations(dry_run),
            "backend credentials": self._backends(dry_run),
            "term lists": self._term_lists(dry_run),
            "subject requests": self._subject_requests(dry_run),
        }
        for what, count in counts.items():
            verb = "to re-seal" if dry_run else "re-sealed"
            self.stdout.write(f"{what}: {count} {verb}")
        if not any(counts.values()) and "," in settings.STEWARD_MASTER_KEY:
            self.stdout.write(
                "Everything is sealed with the first key already. If you meant to rotate to a "
                "new key, it must come first: STEWARD_MASTER_KEY=new,old."
            )
        if not dry_run:
            record(
                action=AuditEvent.Action.MASTER_KEY_ROTATED,
                actor_label="rotate_master_key",
                details={k.replace(" ", "_"): v for k, v in counts.items()},
            )

    def _conversations(self, dry_run: bool) -> int:
        done = 0
        last = 0
        while True:
            batch = list(
                Conversation.objects.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "public_id", "data_key_wrapped")[:BATCH]
            )
            if not batch:
                return done
            for pk, public_id, wrapped in batch:
                if crypto.sealed_with_current_key(bytes(wrapped)):
                    continue
                done += 1
                if not dry_run:
                    Conversation.objects.filter(pk=pk, data_key_wrapped=wrapped).update(
                        data_key_wrapped=rewrap(bytes(wrapped), public_id)
                    )
            last = batch[-1][0]

    def _backends(self, dry_run: bool) -> int:
        def reseal(backend: Backend) -> None:
            backend.seal_credential(backend.open_credential())
            backend.save(update_fields=["credential_encrypted"])

        backends = Backend.objects.exclude(credential_encrypted=b"")
        return _reseal_each(backends, "credential_encrypted", reseal, dry_run)

    def _term_lists(self, dry_run: bool) -> int:
        def reseal(term_list: ProtectedTermList) -> None:
            term_list.set_terms(term_list.terms())
            term_list.save(update_fields=["terms_sealed", "term_count"])

        term_lists = ProtectedTermList.objects.exclude(terms_sealed=b"")
        return _reseal_each(term_lists, "terms_sealed", reseal, dry_run)

    def _subject_requests(self, dry_run: bool) -> int:
        from privacy import archive
        from privacy.models import SubjectRequest

        def reseal(request: SubjectRequest) -> None:
            fields = []
            if request.identifiers_sealed:
                request.seal_identifiers(request.identifiers())
                fields.append("identifiers_sealed")
            if request.archive_sealed:
                request.archive_sealed = archive.seal(request, archive.open_archive(request))
                fields.append("archive_sealed")
            request.save(update_fields=fields)

        done = 0
        for field in ("identifiers_sealed", "archive_sealed"):
            requests = SubjectRequest.objects.exclude(**{field: b""})
            done += _reseal_each(requests, field, reseal, dry_run)
        return done


def _sealed_with_unknown_keys() -> int:
    """How many sealed values no configured master key opens (read before anything changes)."""
    from privacy.models import SubjectRequest

    columns = [
        (Conversation.objects.all(), "data_key_wrapped"),
        (Backend.objects.exclude(credential_encrypted=b""), "credential_encrypted"),
        (ProtectedTermList.objects.exclude(terms_sealed=b""), "terms_sealed"),
        (SubjectRequest.objects.exclude(identifiers_sealed=b""), "identifiers_sealed"),
        (SubjectRequest.objects.exclude(archive_sealed=b""), "archive_sealed"),
    ]
    unknown = 0
    for rows, field in columns:
        for blob in rows.values_list(field, flat=True).iterator(chunk_size=BATCH):
            unknown += not crypto.sealed_with_a_configured_key(bytes(blob))
    return unknown


def _reseal_each(rows, field: str, reseal, dry_run: bool) -> int:
    """Re-seal each row whose ``field`` an older master key sealed; how many there were."""
    done = 0
    for row in rows:
        if crypto.sealed_with_current_key(bytes(getattr(row, field))):
            continue
        done += 1
        if not dry_run:
            with transaction.atomic():
                reseal(row)
    return done
