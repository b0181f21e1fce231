from django.core.management.base import BaseCommand, CommandError

from audit import chain
from audit.services import iter_chain_rows


class Command(BaseCommand):
    help = "Walk the audit hash chain; exit non-zero naming the first event that does not match."

    def handle(self, *args, **options) -> None:
        report = chain.verify(iter_chain_rows())
        if not report.intact:
            bad = report.first_break
            raise CommandError(
                f"Audit chain broken at event #{bad.sequence}: {bad.reason} "
                f"({report.checked} events before it verified)"
            )
        self.stdout.write(f"Audit chain intact: {report.checked} events, head {report.head_hash}")
