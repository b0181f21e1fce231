from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from config.mail import site_address
from governance.models import User
from governance.services import PolicyError, create_admin
from governance.services.accounts import choose_password_path, unconfirmed_sign_up


class Command(BaseCommand):
    help = (
        "Make EMAIL a policy admin (and staff), creating the account if needed, and print a "
        "link where that person chooses their password. Not a superuser: the roles are the "
        "ones the Users page shows and changes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="", help="the person's full name (a new account)")
        parser.add_argument(
            "--site-url",
            help="the site's public address for the link (default: https:// and the first "
            "ALLOWED_HOSTS in production, http://127.0.0.1:PORT embedded)",
        )

    def handle(self, *args, email: str, name: str, site_url: str | None, **options) -> None:
        if site_url and not site_url.startswith(("https://", "http://")):
            # Printed as given, "steward.example.com/accounts/…" is a link nobody can click.
            raise CommandError(f"--site-url must start with https:// (got {site_url!r}).")
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not an email address.") from None
        existing = User.objects.filter(email__iexact=email).first()
        if existing is not None and unconfirmed_sign_up(existing):
            # Whoever signed up may not own the address: they would be the policy admin.
            raise CommandError(
                f"{existing.email} signed up on their own and never confirmed the address, so "
                "whoever made the account may not be its owner. Have them sign in once and "
                "confirm the address from the email Steward sends, then run this again."
            )
        try:
            user, created = create_admin(email=email, full_name=name)
        except PolicyError as exc:
            raise CommandError(str(exc)) from None
        if created:
            self.stdout.write(f"Created {user.email}: policy admin and staff.")
        else:
            self.stdout.write(f"{user.email} already has an account; it is now a policy admin.")
        if user.has_usable_password() and user.last_login is not None:
            self.stdout.write("They sign in with their own password.")
        else:
            link = (site_url or site_address()).rstrip("/") + choose_password_path(user)
            days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
            self.stdout.write(
                f"Give them this link to choose their password (it works once, for {days} "
                f"days; it is a credential: send it privately):\n  {link}"
            )
        if settings.STEWARD_REQUIRE_MFA:
            self.stdout.write(
                "At first sign-in they enrol two-factor authentication (an authenticator app)."
            )
