"""``manage.py purge [--dry-run]``: the retention purge from the shell, recorded like beat's."""

from django.core.management.base import BaseCommand, CommandError

from privacy import purge
from privacy.models import PurgeRun


class Command(BaseCommand):
    help = "Delete conversations past their category's retention window (held ones stay)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would be removed; remove nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        if dry_run:
            expired = purge.preview()
            for name, counts in expired.counts.items():
                self.stdout.write(
                    f"{name}: {counts['conversations']} conversations, "
                    f"{counts['messages']} messages would be removed"
                )
            self.stdout.write(
                f"total: {expired.conversations} conversations, {expired.messages} messages; "
                f"{expired.held} expired but held"
            )
            return
        try:
            run = purge.run(purge.start())
        except purge.PurgeBusy as exc:
            raise CommandError(f"{exc} Try again when it has finished.") from None
        for name, counts in run.counts.items():
            self.stdout.write(
                f"{name}: {counts['conversations']} conversations, {counts['messages']} messages"
            )
        self.stdout.write(
            f"removed {run.done_conversations} conversations and {run.deleted_messages} messages "
            f"in {run.duration.total_seconds():.1f} s"
        )
        if run.status != PurgeRun.Status.DONE:
            raise CommandError("; ".join(run.errors) or "The purge did not finish.")
