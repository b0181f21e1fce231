"""Single sign-on and accounts nobody has proved the address of (review of open sign-up's
address confirmation).

A provider that does not vouch for the address it sends (``email_verified`` false: one
where people may type their own) is no proof either: with ``STEWARD_OIDC_AUTO_SIGNUP`` its
single sign-on made, and signed in, an account under a colleague's address, and when the
colleague then signed on, allauth linked them into that same account, their maker's
identity still linked beside theirs. And an address the provider does vouch for, at a
sign-on into an account open sign-up made, proves it: the account is no longer one whose
address nobody confirmed (it was, for good: its sign-ons are never asked).
"""

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.core import mail

from audit.models import AuditEvent
from governance.models import User
from governance.roles import Role, roles_of
from governance.services import set_roles
from governance.services.accounts import unconfirmed_sign_up
from tests.factories import make_user
from tests.security.test_sso_unverified_address import _signs_in_with_single_sign_on

ADDRESS = "victim@corp.example"
PASSWORD = "typed-by-someone-else-9931"


@pytest.fixture
def single_sign_on(single_sign_on, settings):
    settings.STEWARD_OIDC_AUTO_SIGNUP = True


def _signs_on(address: str, *, uid: str, vouched: bool):
    """The session a sign-on of the person ``uid`` left, sending ``address`` (with its
    ``email_verified`` claim ``vouched``)."""
    return _signs_in_with_single_sign_on(address, uid=uid, vouched=vouched).session


def _signed_in(session) -> str | None:
    return session.get("_auth_user_id")


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_a_sign_on_whose_provider_did_not_vouch_for_the_address_is_asked_to_confirm_it():
    session = _signs_on(ADDRESS, uid="squatter", vouched=False)

    assert _signed_in(session) is None
    made = User.objects.get(email=ADDRESS)
    assert unconfirmed_sign_up(made)
    assert [m.to for m in mail.outbox] == [[ADDRESS]]  # the link goes to the mailbox
    assert "/accounts/confirm-email/" in mail.outbox[0].body


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_the_owners_sign_on_proves_the_address_and_unlinks_the_identity_that_did_not():
    _signs_on(ADDRESS, uid="squatter", vouched=False)
    made = User.objects.get(email=ADDRESS)

    session = _signs_on(ADDRESS, uid="owner", vouched=True)

    assert _signed_in(session) == str(made.pk)
    assert not unconfirmed_sign_up(made)
    assert list(SocialAccount.objects.filter(user=made).values_list("uid", flat=True)) == ["owner"]
    # The identity that typed the address signs in to that account no more.
    again = _signs_on(ADDRESS, uid="squatter", vouched=False)
    assert _signed_in(again) != str(made.pk)
    event = AuditEvent.objects.get(action=AuditEvent.Action.ADDRESS_CONFIRMED)
    assert event.target_id == str(made.public_id)
    assert event.details == {
        "via": "single sign-on",
        "identities_unlinked": 1,
        "api_tokens_revoked": 0,
        "password_removed": False,
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_after_sign_up_the_owners_sign_on_lets_an_administrator_give_roles(client, settings):
    settings.STEWARD_OPEN_SIGNUP = True
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    signed_up = {"email": ADDRESS, "password1": PASSWORD, "password2": PASSWORD}
    client.post("/accounts/signup/", signed_up)
    made = User.objects.get(email=ADDRESS)

    session = _signs_on(ADDRESS, uid="owner", vouched=True)

    assert _signed_in(session) == str(made.pk)
    made.refresh_from_db()
    assert not made.has_usable_password()  # allauth's: the maker's password goes
    admin = make_user("admin@corp.example", Role.POLICY_ADMIN)
    set_roles(user=made, roles=[Role.STAFF], actor=admin)
    assert Role.STAFF in roles_of(User.objects.get(pk=made.pk))


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_an_invited_account_signs_on_as_before_whatever_the_provider_says():
    admin = make_user("admin@corp.example", Role.POLICY_ADMIN)
    invited = make_user(ADDRESS, invited_by=admin)
    EmailAddress.objects.create(user=invited, email=ADDRESS, primary=True, verified=True)
    SocialAccount.objects.create(user=invited, provider="sso", uid="owner")

    session = _signs_on(ADDRESS, uid="owner", vouched=False)

    assert _signed_in(session) == str(invited.pk)
    assert mail.outbox == []
