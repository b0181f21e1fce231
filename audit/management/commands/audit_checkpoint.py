import json

from django.core.management.base import BaseCommand, CommandError

from audit import signing
from audit.services import checkpoint_line, checkpoint_lines, create_checkpoint


class Command(BaseCommand):
    help = (
        "Sign the audit chain's head and print the checkpoint as one JSON line to keep "
        "elsewhere. --export prints every checkpoint; --public-key prints the key to check them."
    )

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--export", action="store_true", help="print all checkpoints (JSON Lines)"
        )
        group.add_argument("--public-key", action="store_true", help="print the verification key")

    def handle(self, *args, export: bool, public_key: bool, **options) -> None:
        key = signing.public_key_text()
        if public_key:
            self.stdout.write(key)
            return
        if export:
            for line in checkpoint_lines():
                self.stdout.write(line, ending="")
            return
        checkpoint = create_checkpoint()
        if checkpoint is None:
            raise CommandError("The audit trail is empty: nothing to sign yet.")
        self.stdout.write(json.dumps(checkpoint_line(checkpoint, key)))
