"""Mark verified the addresses of accounts made before invitations and ``create_admin``
recorded them so, where an administrator typed the address.

Single sign-on linked to an account whose address nobody verified revokes its API tokens
(``api.receivers``): right for an account made by open sign-up, whose maker may not own the
address, but surprising for these. Which accounts the rows vouch for:

1. An invited account (``invited_by`` set): an administrator typed its address, and it had
   no password until someone used the link mailed there.
2. An account with no primary address row: made by an operator (``create_admin`` before it
   recorded the row, ``createsuperuser``, the shell), perhaps with the unverified row, not
   primary, that allauth adds for such an account at its first password reset or sign-in.
   Open sign-up always leaves a primary row (an unverified one: allauth's
   ``setup_user_email``), so none of its accounts is among them.

Left as they are: accounts with an unverified primary row and no inviter (open sign-up's, or
single sign-on's where the provider did not vouch), erased accounts (their rows went with
them), and an address another account already holds verified.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef

ERASED_DOMAIN = "erased.invalid"  # governance.models.ERASED_DOMAIN, as it was


def verify_vouched_addresses(apps, schema_editor) -> None:
    User = apps.get_model("governance", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    verified = EmailAddress.objects.filter(
        user=OuterRef("pk"), email__iexact=OuterRef("email"), verified=True
    )
    unproven = User.objects.exclude(email__iendswith=f"@{ERASED_DOMAIN}").exclude(Exists(verified))
    for user in unproven.iterator():
        rows = EmailAddress.objects.filter(user=user)
        if user.invited_by_id is None and rows.filter(primary=True).exists():
            continue  # maybe open sign-up's: its maker typed the address
        if EmailAddress.objects.filter(email__iexact=user.email, verified=True).exists():
            continue  # another account's, verified: one address is verified once
        row = rows.filter(email__iexact=user.email).first()
        if row is not None:
            row.verified = True
            row.save(update_fields=["verified"])
        else:
            EmailAddress.objects.create(
                user=user,
                email=user.email,
                verified=True,
                primary=not rows.filter(primary=True).exists(),
            )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0006_backend_processor"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [
        migrations.RunPython(verify_vouched_addresses, migrations.RunPython.noop, elidable=True),
    ]
