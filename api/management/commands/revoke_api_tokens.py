"""Revoke every personal API token of a user, for an operator (after ``changepassword``)."""

from django.core.management.base import BaseCommand, CommandError

from api.services import revoke_all_tokens
from governance.models import User

LABEL = "manage.py revoke_api_tokens"


class Command(BaseCommand):
    help = (
        "Revoke every API token of USER (an email address) that still works. Django's "
        "changepassword does not revoke them (the pages' password change and reset do)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="the owner's email address")

    def handle(self, *args, user: str, **options) -> None:
        owner = User.objects.filter(email__iexact=user.strip()).first()
        if owner is None:
            raise CommandError(f"No account has the email address {user!r}.")
        count = revoke_all_tokens(
            user=owner,
            actor=None,
            actor_label=LABEL,
            reason=f"Revoked by an operator ({LABEL}).",
        )
        self.stdout.write(f"{count} token{'' if count == 1 else 's'} revoked for {owner.email}.")
