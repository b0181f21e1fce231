"""Make a personal API token for a user and print it, once."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api.models import ApiToken
from api.services import create_token, tell_owner
from governance.models import User


class Command(BaseCommand):
    help = "Create a personal API token for USER (an email address); the token is printed once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="the owner's email address")
        parser.add_argument("--name", default="API token", help="what the token is for")
        parser.add_argument(
            "--expires", type=int, default=None, metavar="DAYS", help="days until it expires"
        )

    def handle(self, *args, user: str, name: str, expires: int | None, **options) -> None:
        owner = User.objects.filter(email__iexact=user.strip()).first()
        if owner is None:
            raise CommandError(f"No account has the email address {user!r}.")
        try:
            token, secret = create_token(
                user=owner,
                name=name,
                expires_in_days=expires,
                actor=None,
                tell_owner_on_commit=False,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        # The token first, then the owner's notice: printed after it, a saved token was never
        # shown while a mail server that accepted the connection did not answer.
        self._show(token, secret)
        tell_owner(token, by_operator=True)

    def _show(self, token: ApiToken, secret: str) -> None:
        # The company's day, as the tokens page and the owner's mail give it.
        when = timezone.localdate(token.expires_at).isoformat() if token.expires_at else "never"
        self.stderr.write(f"Token “{token.name}” for {token.user.email} (expires: {when}).")
        self.stderr.write("Keep it now: it is not stored and cannot be shown again.")
        self.stdout.write(secret)
        self.stdout.flush()  # a pipe's buffer would hold it until the notice is done
