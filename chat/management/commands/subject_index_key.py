"""Whether the subject index is read with the key it was written with (``chat.index_key``).

Without options: says so, or fails with what to do. ``--stamp``: take the key set now as
the index's key, for when its fingerprint was taken under a wrong one (an upgrade's
``migrate`` run with another key, say). Recorded in the audit trail.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from audit.models import AuditEvent
from audit.services import record
from chat import index_key


class Command(BaseCommand):
    help = "Check the subject index's key; --stamp takes the key set now as its key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stamp",
            action="store_true",
            help="Take the key set now (STEWARD_SUBJECT_INDEX_KEY, else SECRET_KEY) as the "
            "key the index is written with. Only when you are sure it is.",
        )

    def handle(self, *args, stamp: bool = False, **options):
        if stamp:
            index_key.stamp()
            record(action=AuditEvent.Action.INDEX_KEY_STAMPED, actor_label="subject_index_key")
            self.stdout.write("The key set now is the subject index's key from now on.")
            return
        try:
            refused = index_key.refusal()
        except DatabaseError as exc:
            raise CommandError(f"The database could not be reached: {exc!r}") from None
        if refused:
            raise CommandError(refused)
        self.stdout.write("The subject index is read with the key it was written with.")
