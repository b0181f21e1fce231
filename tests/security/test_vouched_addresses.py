"""Accounts whose address an administrator typed keep their API tokens at their first single
sign-on: ``create_admin`` records the address as verified, and a data migration marks the
addresses of accounts made before invitations and create_admin recorded them. Accounts open
sign-up may have made are left unverified (their tokens still go at the first sign-on)."""

from importlib import import_module
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.core.management import CommandError, call_command

from api.models import ApiToken
from api.services import create_token
from governance.models import User
from governance.roles import Role
from tests.factories import make_user
from tests.security.test_sso_unverified_address import _signs_in_with_single_sign_on

migration = import_module("governance.migrations.0007_verify_vouched_addresses")


def _verified(user) -> bool:
    return EmailAddress.objects.filter(user=user, email=user.email, verified=True).exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_create_admin_records_the_address_it_was_given_as_verified():
    call_command("create_admin", "ada@corp.example", stdout=StringIO())
    ada = User.objects.get(email="ada@corp.example")
    assert EmailAddress.objects.get(user=ada).verified
    token, _ = create_token(user=ada, name="ops", expires_in_days=None, actor=ada)

    _signs_in_with_single_sign_on("ada@corp.example")

    assert ApiToken.objects.get(pk=token.pk).status == "active"


@pytest.mark.django_db
def test_the_migration_marks_the_addresses_an_administrator_typed():
    admin = make_user("admin@corp.example")
    invited = make_user("invited@corp.example", invited_by=admin)  # invited before the rows
    made = make_user("made@corp.example")  # by an operator: no address row at all
    migration.verify_vouched_addresses(apps, None)
    assert _verified(invited) and _verified(made)
    row = EmailAddress.objects.get(user=made)
    assert row.primary and row.email == "made@corp.example"


@pytest.mark.django_db
def test_an_operator_made_account_is_no_sign_up_once_allauth_adds_its_address(client, settings):
    """allauth adds an unverified row, not primary, for an account made without any (the
    shell, createsuperuser) when it resets its password: that account is still not one
    open sign-up made. Its token works, and the migration marks the row verified, so it
    then signs in unasked with sign-up open (which asks any account of no verified
    address to confirm it)."""
    from allauth.account.internal.flows.manage_email import sync_user_email_address

    from api.services import authenticate
    from governance.services.accounts import unconfirmed_sign_up

    made = make_user("made@corp.example", Role.STAFF, password="a-long-pass-4471-made")
    _, raw = create_token(user=made, name="ops", expires_in_days=None, actor=made)
    sync_user_email_address(made)  # what a password reset or a sign-in does
    assert EmailAddress.objects.get(user=made).primary is False
    assert not unconfirmed_sign_up(made)
    assert authenticate(raw).user == made

    migration.verify_vouched_addresses(apps, None)
    assert _verified(made)
    settings.STEWARD_OPEN_SIGNUP = True
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    signed_in = client.post(
        "/accounts/login/", {"login": made.email, "password": "a-long-pass-4471-made"}
    )
    assert signed_in["Location"] != "/accounts/confirm-email/"
    assert "_auth_user_id" in client.session


@pytest.mark.django_db
def test_the_migration_leaves_an_account_open_sign_up_may_have_made(client, settings):
    settings.STEWARD_OPEN_SIGNUP = True
    password = "typed-by-someone-else-9931"
    signed_up = {"email": "victim@corp.example", "password1": password, "password2": password}
    client.post("/accounts/signup/", signed_up)
    made = User.objects.get(email="victim@corp.example")
    migration.verify_vouched_addresses(apps, None)
    assert not _verified(made)


@pytest.mark.django_db
def test_the_migration_marks_an_invited_accounts_unverified_row():
    admin = make_user("admin@corp.example")
    invited = make_user("invited@corp.example", invited_by=admin)
    EmailAddress.objects.create(user=invited, email=invited.email, primary=True, verified=False)
    migration.verify_vouched_addresses(apps, None)
    assert EmailAddress.objects.get(user=invited).verified


@pytest.mark.django_db
def test_the_migration_leaves_erased_accounts_and_addresses_verified_elsewhere():
    erased = make_user("erased-0123456789ab@erased.invalid")
    other = make_user("other@corp.example")
    EmailAddress.objects.create(user=other, email="other@corp.example", primary=True, verified=True)
    taken = make_user("taken@corp.example")
    EmailAddress.objects.create(user=other, email="taken@corp.example", verified=True)
    migration.verify_vouched_addresses(apps, None)
    assert not EmailAddress.objects.filter(user=erased).exists()
    assert not EmailAddress.objects.filter(user=taken).exists()


@pytest.mark.django_db
def test_create_admin_refuses_an_account_open_sign_up_made_and_nobody_confirmed(client, settings):
    """Its maker, who may not own the address, would be the policy admin."""
    settings.STEWARD_OPEN_SIGNUP = True
    password = "typed-by-someone-else-9931"
    signed_up = {"email": "victim@corp.example", "password1": password, "password2": password}
    client.post("/accounts/signup/", signed_up)
    with pytest.raises(CommandError, match="never confirmed the address"):
        call_command("create_admin", "Victim@corp.example")
    made = User.objects.get(email="victim@corp.example")
    assert not made.groups.exists()
    EmailAddress.objects.filter(user=made).update(verified=True)  # confirmed from the mailbox
    call_command("create_admin", "victim@corp.example", stdout=StringIO())
    assert made.groups.count() == 2
