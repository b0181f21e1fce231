from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.demo import (
    DEMO_PASSWORD,
    DEMO_USERS,
    publish_demo_policy,
    seed_demo_organisation,
)
from governance.models import User


class Command(BaseCommand):
    help = "Create the demo organisation (idempotent: only what is missing is added)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if any user account exists"
        )

    def handle(self, *args, if_empty: bool, **options) -> None:
        # The demo accounts' password is in the README: on a real site anyone could sign
        # in as its policy admin.
        if settings.PRODUCTION:
            if if_empty:
                self.stdout.write("STEWARD_MODE=production: demo organisation not seeded.")
                return
            raise CommandError(
                "The demo organisation is not for STEWARD_MODE=production: its accounts' "
                "password is public. Create the first administrator with "
                "'manage.py create_admin EMAIL', then add categories on the policy console "
                "or with 'manage.py policy import FILE'."
            )
        if if_empty and User.objects.exists():
            self.stdout.write("Accounts exist already; demo organisation not seeded.")
            return
        report = seed_demo_organisation()
        report.created += publish_demo_policy().created
        if report.changed:
            self.stdout.write(f"Demo organisation: created {len(report.created)} objects.")
        else:
            self.stdout.write("Demo organisation already complete; nothing changed.")
        self.stdout.write(f"Demo users (password {DEMO_PASSWORD}):")
        for email, _, roles in DEMO_USERS:
            self.stdout.write(f"  {email:<22} {', '.join(role.label for role in roles)}")
