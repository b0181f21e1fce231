"""Single sign-on identities linked to an account before its owner proved the address.

Someone signs on under a colleague's address through a provider that does not vouch for it
(``STEWARD_OIDC_AUTO_SIGNUP``): the account is made with their identity linked, and the link
to confirm the address goes to the colleague's mailbox. When the colleague proves the address
from the mailbox (that link, or a password reset's), the identity linked before is unlinked:
else it would sign in to the colleague's account from then on.
"""

import re

import pytest
from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.email_verification import verify_email_indirectly
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.test import RequestFactory

from audit.models import AuditEvent
from governance.models import User
from governance.roles import Role
from governance.services.accounts import unconfirmed_sign_up
from tests.factories import make_user
from tests.security.test_sso_unverified_address import _signs_in_with_single_sign_on

ADDRESS = "victim@corp.example"
PASSWORD = "the-owners-own-pass-5521"


@pytest.fixture
def single_sign_on(single_sign_on, settings):
    settings.STEWARD_OIDC_AUTO_SIGNUP = True


def _squatted() -> User:
    """The account a sign-on made under ``ADDRESS`` for the person "squatter", whose
    provider did not vouch for it; the link to confirm it is in the owner's mailbox."""
    _signs_in_with_single_sign_on(ADDRESS, uid="squatter", vouched=False)
    made = User.objects.get(email=ADDRESS)
    assert unconfirmed_sign_up(made)
    assert SocialAccount.objects.filter(user=made).exists()
    return made


def _squatter_signs_in_to(account: User) -> bool:
    request = _signs_in_with_single_sign_on(ADDRESS, uid="squatter", vouched=False)
    return request.session.get("_auth_user_id") == str(account.pk)


def _mailed(path: str) -> str:
    """The link to ``path`` in the latest email, without its scheme and host."""
    return re.search(rf"https?://[^/\s]+({path}\S+)", mail.outbox[-1].body).group(1)


def _confirmed(user: User) -> AuditEvent:
    return AuditEvent.objects.get(
        action=AuditEvent.Action.ADDRESS_CONFIRMED, target_id=str(user.public_id)
    )


def _ended(identities: int = 0, tokens: int = 0, password: bool = False) -> dict:
    """The details of an address confirmed event: what proving the address ended."""
    return {
        "identities_unlinked": identities,
        "api_tokens_revoked": tokens,
        "password_removed": password,
    }


def _request():
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    request.user = AnonymousUser()
    return request


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_it_unlinks_the_identity_when_the_owner_follows_the_confirmation_link(client):
    made = _squatted()

    client.post(_mailed("/accounts/confirm-email/"))

    assert not unconfirmed_sign_up(made)
    assert not _squatter_signs_in_to(made)
    assert not SocialAccount.objects.filter(user=made).exists()
    assert _confirmed(made).details == _ended(identities=1)


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_it_tells_the_owner_where_to_link_theirs_again(client):
    _squatted()

    page = client.post(_mailed("/accounts/confirm-email/"), follow=True).content.decode()

    # From another browser than the sign-up's: no password, no identity left to sign in with.
    assert (
        "Your address is confirmed. Now choose the password you will sign in with, then link "
        'single sign-on again on the <a href="/accounts/3rdparty/">Single sign-on</a> page.'
    ) in page
    assert "You have confirmed" not in page  # said once


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_a_password_reset_proves_the_address_and_unlinks_the_identity(client):
    made = _squatted()

    client.post("/accounts/password/reset/", {"email": ADDRESS})
    form = client.get(_mailed("/accounts/password/reset/key/"), follow=True)
    new = {"password1": PASSWORD, "password2": PASSWORD}
    client.post(form.redirect_chain[-1][0], new)

    assert EmailAddress.objects.get(user=made).verified
    assert not SocialAccount.objects.filter(user=made).exists()
    assert not _squatter_signs_in_to(made)
    assert _confirmed(made).details == _ended(identities=1)
    # The owner signs in with the new password, not asked to confirm again.
    signed_in = client.post("/accounts/login/", {"login": ADDRESS, "password": PASSWORD})
    assert signed_in["Location"] != "/accounts/confirm-email/"
    assert client.session["_auth_user_id"] == str(made.pk)


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_it_unlinks_on_routes_that_do_not_pass_through_the_adapter():
    made = _squatted()

    verify_email_indirectly(_request(), made, ADDRESS)  # allauth's sign-in or reset by code

    assert not SocialAccount.objects.filter(user=made).exists()
    assert _confirmed(made).details == _ended(identities=1)


@pytest.mark.django_db
def test_an_account_made_from_the_shell_keeps_its_identity_when_it_confirms():
    # createsuperuser: no address row of its own until allauth adds one, not primary.
    made = make_user(ADDRESS)
    address = EmailAddress.objects.create(user=made, email=ADDRESS, primary=False, verified=False)
    SocialAccount.objects.create(user=made, provider="sso", uid="owner")

    get_adapter().confirm_email(_request(), address)

    assert EmailAddress.objects.get(pk=address.pk).verified
    assert SocialAccount.objects.filter(user=made).exists()
    assert _confirmed(made).details == _ended()


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_an_invited_account_keeps_its_identity_through_a_reset(client):
    admin = make_user("admin@corp.example", Role.POLICY_ADMIN)
    invited = make_user(ADDRESS, invited_by=admin)
    EmailAddress.objects.create(user=invited, email=ADDRESS, primary=True, verified=True)
    SocialAccount.objects.create(user=invited, provider="sso", uid="owner")

    client.post("/accounts/password/reset/", {"email": ADDRESS})
    form = client.get(_mailed("/accounts/password/reset/key/"), follow=True)
    client.post(form.redirect_chain[-1][0], {"password1": PASSWORD, "password2": PASSWORD})

    assert SocialAccount.objects.filter(user=invited).exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ADDRESS_CONFIRMED).exists()
