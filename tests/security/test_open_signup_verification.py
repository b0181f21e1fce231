"""Open sign-up asks for the address to be confirmed from its mailbox before the account
signs in: without it, anyone could sign up under a colleague's address and use Steward as
them. Invited accounts, whose address an administrator typed, are not asked."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from audit.models import AuditEvent
from governance.models import User
from governance.roles import Role
from governance.services import invite_user
from tests.factories import make_user
from tests.test_settings import _setting

ADDRESS = "victim@corp.example"
PASSWORD = "typed-by-someone-else-9931"


@pytest.fixture
def open_signup(settings):
    """What config/settings.py sets with STEWARD_OPEN_SIGNUP=true (shown apart, below)."""
    settings.STEWARD_OPEN_SIGNUP = True
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"


def test_open_signup_makes_the_address_confirmation_mandatory(tmp_path):
    env = {"STEWARD_DATA_DIR": str(tmp_path)}
    assert _setting("ACCOUNT_EMAIL_VERIFICATION", **env) == "none"
    env["STEWARD_OPEN_SIGNUP"] = "true"
    assert _setting("ACCOUNT_EMAIL_VERIFICATION", **env) == "mandatory"
    # Single sign-on is not asked: the company's identity provider vouches for its addresses.
    assert _setting("SOCIALACCOUNT_EMAIL_VERIFICATION", **env) == "none"


@pytest.mark.django_db
def test_signing_up_under_an_address_does_not_sign_in_and_mails_that_address(client, open_signup):
    response = client.post(
        "/accounts/signup/", {"email": ADDRESS, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    made = User.objects.get(email=ADDRESS)
    assert not EmailAddress.objects.filter(user=made, verified=True).exists()
    assert [m.to for m in mail.outbox] == [[ADDRESS]]
    sent = mail.outbox[0]
    assert "/accounts/confirm-email/" in sent.body
    # In Steward's words: what it is, and what to do if it was not you.
    assert sent.subject == "[Steward] Confirm your email address"
    assert f"made a Steward account with this address ({ADDRESS})" in sent.body
    assert "do not confirm it" in sent.body


@pytest.mark.django_db
def test_the_password_alone_does_not_sign_in_an_unconfirmed_account(client, open_signup):
    client.post(
        "/accounts/signup/", {"email": ADDRESS, "password1": PASSWORD, "password2": PASSWORD}
    )
    response = client.post("/accounts/login/", {"login": ADDRESS, "password": PASSWORD})
    assert response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_link_from_the_mailbox_lets_the_account_sign_in(client, open_signup):
    client.post(
        "/accounts/signup/", {"email": ADDRESS, "password1": PASSWORD, "password2": PASSWORD}
    )
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", mail.outbox[0].body)
    client.post(link.group(1))
    assert EmailAddress.objects.get(email=ADDRESS).verified
    response = client.post("/accounts/login/", {"login": ADDRESS, "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    # How the account came, and when its address was proved, are in the trail.
    made = User.objects.get(email=ADDRESS)
    events = AuditEvent.objects.filter(target_id=str(made.public_id)).order_by("sequence")
    assert [(e.action, e.details.get("via")) for e in events] == [
        (AuditEvent.Action.USER_SIGNED_UP, "sign-up form"),
        (AuditEvent.Action.ADDRESS_CONFIRMED, None),
        (AuditEvent.Action.LOGIN, None),
    ]


@pytest.mark.django_db(transaction=True)
def test_an_invited_account_signs_in_without_confirming_its_address(client, open_signup):
    admin = make_user("admin@corp.example", Role.POLICY_ADMIN)
    invited = invite_user(
        email="dana@corp.example",
        full_name="Dana",
        roles=[Role.STAFF],
        actor=admin,
        base_url="http://testserver",
    )
    invited.set_password(PASSWORD)
    invited.save()
    mail.outbox.clear()
    response = client.post("/accounts/login/", {"login": "dana@corp.example", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] != "/accounts/confirm-email/"
    assert client.session["_auth_user_id"] == str(invited.pk)
    assert mail.outbox == []


@pytest.mark.django_db
def test_closing_sign_up_does_not_let_in_an_account_whose_address_was_never_confirmed(
    client, settings, open_signup
):
    client.post(
        "/accounts/signup/", {"email": ADDRESS, "password1": PASSWORD, "password2": PASSWORD}
    )
    settings.STEWARD_OPEN_SIGNUP = False
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    response = client.post("/accounts/login/", {"login": ADDRESS, "password": PASSWORD})
    assert response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_with_sign_up_closed_accounts_an_administrator_made_sign_in_as_before(client):
    admin = make_user("admin@corp.example")
    invited = make_user("dana@corp.example", invited_by=admin, password=PASSWORD)
    EmailAddress.objects.create(user=invited, email=invited.email, primary=True)  # unverified
    make_user("made@corp.example", password=PASSWORD)  # by an operator: no address row
    for address in ("dana@corp.example", "made@corp.example"):
        client.logout()
        response = client.post("/accounts/login/", {"login": address, "password": PASSWORD})
        assert response["Location"] != "/accounts/confirm-email/"
        assert "_auth_user_id" in client.session
    assert mail.outbox == []


@pytest.mark.django_db
def test_signing_up_again_with_a_known_address_mails_its_owner_in_stewards_words(
    client, open_signup
):
    make_user(email=ADDRESS)
    client.post(
        "/accounts/signup/", {"email": ADDRESS, "password1": PASSWORD, "password2": PASSWORD}
    )
    [sent] = mail.outbox
    assert sent.subject == "[Steward] You already have a Steward account"
    assert "already has one" in sent.body
    assert "/accounts/password/reset/" in sent.body
