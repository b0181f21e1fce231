from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit import signing
from audit.models import AuditCheckpoint
from audit.services import check_trail, read_checkpoint_lines, stale_checkpoints


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain and hold the signed checkpoints against it; exit non-zero "
        "naming the first event that does not match, or checkpoint rows and events removed. "
        "Stale checkpoints are a warning."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--checkpoints",
            type=Path,
            help="JSON Lines file of exported checkpoints kept elsewhere (default: the database's)",
        )
        parser.add_argument(
            "--public-key",
            help="the key the checkpoints must be signed with (default: ours); write "
            "--public-key=KEY: a key may begin with '-', which would be read as an option",
        )

    def handle(self, *args, checkpoints: Path | None, public_key: str | None, **options) -> None:
        if public_key is not None:
            try:
                signing.load_public_key(public_key)
            except ValueError as exc:
                raise CommandError(f"Nothing checked: {exc}") from None
        lines = _read_checkpoints(checkpoints) if checkpoints else None
        check = check_trail(kept=lines, public_key=public_key)
        report, problems = check.report, check.disagreements + check.problems
        warning = stale_checkpoints()
        for problem in check.unverified + problems:
            self.stderr.write(problem)
        if warning:
            self.stderr.write(f"Warning (not a failure): {warning}")
        if not report.intact:
            bad = report.first_break
            reason = bad.reason
            if report.checked == 0 and bad.sequence > 1:
                reason = f"the trail starts there, events #1 to #{bad.sequence - 1} are missing"
            raise CommandError(
                f"Audit chain broken at event #{bad.sequence}: {reason} "
                f"({report.checked} events before it verified)"
            )
        if problems:
            raise CommandError(
                f"The audit trail does not verify: {len(problems)} problem"
                f"{'s' if len(problems) != 1 else ''} above (checkpoints that do not match "
                "the chain, or events removed)"
            )
        if check.unverified:
            # The file's problem, not the trail's: its other lines and the stored ones held.
            raise CommandError(
                f"{checkpoints}: {len(check.unverified)} line"
                f"{'s' if len(check.unverified) != 1 else ''} of the file do not verify "
                "(above), so were not held; the trail holds every other checkpoint"
            )
        held = len(lines) if lines is not None else AuditCheckpoint.objects.count()
        self.stdout.write(
            f"Audit chain intact: {report.checked} events, head {report.head_hash}; "
            f"{held} checkpoint{'s' if held != 1 else ''} held against it"
            + ("; 1 warning above" if warning else "")
        )


def _read_checkpoints(path: Path) -> list[dict]:
    try:
        return read_checkpoint_lines(path.read_text())
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(f"Nothing checked: {path}: {exc}") from None
