"""``manage.py purge [--dry-run]``: the retention purge from the shell, recorded like beat's."""

from django.core.management.base import BaseCommand, CommandError

from privacy import purge
from privacy.models import PurgeRun

#: Who ran it, in the audit trail (a run from the shell has no person behind it).
ACTOR_LABEL = "manage.py purge"


def _sizes(counts: dict) -> str:
    return (
        f"{purge.counted(counts['conversations'], 'conversation')}, "
        f"{purge.counted(counts['messages'], 'message')}"
    )


class Command(BaseCommand):
    help = "Delete conversations past their category's retention window (held ones stay)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would be removed; remove nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        if dry_run:
            expired = purge.preview()
            if not expired.counts:
                self.stdout.write("Nothing is past its retention window: nothing would be removed.")
            for name, counts in expired.counts.items():
                self.stdout.write(f"{name}: {_sizes(counts)} would be removed")
            total = {"conversations": expired.conversations, "messages": expired.messages}
            self.stdout.write(f"total: {_sizes(total)}; {expired.held} expired but held")
            return
        try:
            run = purge.run(purge.start(), actor_label=ACTOR_LABEL)
        except purge.PurgeBusy as exc:
            raise CommandError(f"{exc} Try again when it has finished.") from None
        for name, counts in run.counts.items():
            self.stdout.write(f"{name}: {_sizes(counts)}")
        self.stdout.write(
            f"removed {purge.counted(run.done_conversations, 'conversation')} and "
            f"{purge.counted(run.deleted_messages, 'message')} "
            f"in {run.duration.total_seconds():.1f} s; "
            f"{purge.counted(run.held_back, 'expired conversation')} kept under a legal hold"
        )
        if run.status != PurgeRun.Status.DONE:
            raise CommandError(
                f"The purge stopped before the end ({'; '.join(run.errors) or 'no error given'}). "
                "What it removed is recorded; run it again to go on."
            )
