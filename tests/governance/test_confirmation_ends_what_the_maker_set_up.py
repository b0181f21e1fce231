"""What proving an unconfirmed sign-up's address ends of what the account's maker set up.

Whoever typed the address at sign-up (open sign-up's form, or a single sign-on whose provider
did not vouch for it) may not be its owner. When the owner proves it from the mailbox, what
the maker set up stops letting anyone in: the API tokens always; the password typed at
sign-up and the identities linked, unless the browser that proves it is the one that signed
up (allauth keeps that sign-in pending in its session: then the maker is the owner).
"""

import pytest
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django.test import Client

from api.models import ApiToken
from api.services import TokenRefused, authenticate, create_token
from audit.models import AuditEvent
from governance.models import User
from governance.services.accounts import TOKENS_BEFORE_PROOF, unconfirmed_sign_up
from tests.governance.test_identities_after_confirmation import (
    _confirmed,
    _ended,
    _mailed,
    _request,
    _squatted,
    _squatter_signs_in_to,
    single_sign_on,  # noqa: F401
)
from tests.security.test_sso_unverified_address import _signs_in_with_single_sign_on

ADDRESS = "victim@corp.example"
TYPED = "typed-by-someone-else-9931"
CHOSEN = "the-owners-own-pass-5521"
CONFIRM = "/accounts/confirm-email/"

#: What the owner who proved the address from another browser than the sign-up's is told.
NO_PASSWORD_LEFT = (
    "Your address is confirmed. Now choose the password you will sign in with (the one "
    "typed when the account was made was removed, in case it was not yours)."
)
#: ... and when it also unlinked a single sign-on identity.
NO_IDENTITY_LEFT = (
    "Your address is confirmed. Now choose the password you will sign in with, then link "
    'single sign-on again on the <a href="/accounts/3rdparty/">Single sign-on</a> page.'
)


@pytest.fixture
def open_signup(settings):
    settings.STEWARD_OPEN_SIGNUP = True
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"


def _signs_up(browser: Client, address: str = ADDRESS) -> User:
    browser.post("/accounts/signup/", {"email": address, "password1": TYPED, "password2": TYPED})
    return User.objects.get(email=address)


def _signs_in(browser: Client, password: str) -> bool:
    browser.post("/accounts/login/", {"login": ADDRESS, "password": password})
    return "_auth_user_id" in browser.session


def _token_of(user: User) -> str:
    """A token made while nobody had proved the address (by an operator's
    create_api_token, or before tokens of such accounts were refused)."""
    _, secret = create_token(user=user, name="made before", expires_in_days=None, actor=user)
    return secret


def _resets(browser: Client, password: str = CHOSEN):
    browser.post("/accounts/password/reset/", {"email": ADDRESS})
    form = browser.get(_mailed("/accounts/password/reset/key/"), follow=True)
    return browser.post(form.redirect_chain[-1][0], {"password1": password, "password2": password})


def _chooses_on(page, browser: Client, password: str = CHOSEN):
    """Chooses ``password`` on the page a confirmation sent ``browser`` to (followed)."""
    # allauth moves the key from the address to the session: no Referer carries it.
    assert page.redirect_chain[-1][0].endswith("-set-password/"), page.redirect_chain
    assert "Choose your password" in page.content.decode()
    return browser.post(page.redirect_chain[-1][0], {"password1": password, "password2": password})


def _in_this_browser(request) -> Client:
    """A browser holding the session that ``request`` (a sign-on) left."""
    browser = Client()
    session = browser.session
    session.update(dict(request.session.items()))
    session.save()
    return browser


# F1: tokens made before the address was proved.


@pytest.mark.django_db
def test_it_revokes_the_tokens_made_before_the_address_was_proved(client, open_signup):
    made = _signs_up(Client())
    secret = _token_of(made)

    page = client.post(_mailed(CONFIRM), follow=True).content.decode()

    with pytest.raises(TokenRefused):
        authenticate(secret)
    assert _confirmed(made).details == _ended(tokens=1, password=True)
    revoked = AuditEvent.objects.get(action=AuditEvent.Action.API_TOKEN_REVOKED)
    assert revoked.message == TOKENS_BEFORE_PROOF
    assert (
        "The API token made before your address was confirmed was revoked: make a new one if "
        "you need it."
    ) in page


@pytest.mark.django_db
def test_it_revokes_them_in_the_browser_that_signed_up_too(open_signup):
    browser = Client()
    made = _signs_up(browser)
    secrets = [_token_of(made), _token_of(made)]

    page = browser.post(_mailed(CONFIRM), follow=True).content.decode()

    assert not ApiToken.objects.filter(user=made, revoked_at__isnull=True).exists()
    assert _confirmed(made).details == _ended(tokens=2)
    assert "The 2 API tokens made before your address was confirmed were revoked" in page
    for secret in secrets:
        with pytest.raises(TokenRefused):
            authenticate(secret)


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_a_reset_that_chooses_the_first_password_revokes_them(client):
    made = _squatted()  # no password: the owner's reset chooses the first one
    secret = _token_of(made)

    _resets(client)

    with pytest.raises(TokenRefused):
        authenticate(secret)
    assert _confirmed(made).details == _ended(identities=1, tokens=1)


# F2: the password typed at sign-up.


@pytest.mark.django_db
def test_from_another_browser_the_password_typed_at_sign_up_is_removed(client, open_signup):
    squatter = Client()
    made = _signs_up(squatter)

    page = client.post(_mailed(CONFIRM), follow=True)

    assert not _signs_in(squatter, TYPED)
    made.refresh_from_db()
    assert not made.has_usable_password()
    assert _confirmed(made).details == _ended(password=True)
    assert NO_PASSWORD_LEFT in page.content.decode()
    assert "You have confirmed" not in page.content.decode()  # said once
    # The owner chooses their password on the page the confirmation opened, and is in.
    _chooses_on(page, client)
    assert _signs_in(client, CHOSEN)
    assert not _signs_in(squatter, TYPED)


@pytest.mark.django_db
def test_the_page_to_choose_a_password_opens_once(client, open_signup):
    _signs_up(Client())
    link = _mailed(CONFIRM)
    page = client.post(link, follow=True)
    _chooses_on(page, client)

    again = Client().post(link, follow=True)  # the link used a second time, anywhere

    assert not any(url.endswith("-set-password/") for url, _ in again.redirect_chain)
    assert "Choose your password" not in again.content.decode()


@pytest.mark.django_db
def test_a_next_on_the_link_does_not_take_the_owner_elsewhere(client, open_signup):
    made = _signs_up(Client())

    page = client.post(_mailed(CONFIRM) + "?next=/chat/", follow=True)

    _chooses_on(page, client)
    made.refresh_from_db()
    assert made.check_password(CHOSEN)


@pytest.mark.django_db
def test_a_next_still_leads_where_it_says_in_the_browser_that_signed_up(open_signup):
    browser = Client()
    _signs_up(browser)

    page = browser.post(_mailed(CONFIRM) + "?next=/training/", follow=True)

    assert page.redirect_chain[0][0] == "/training/"


@pytest.mark.django_db
def test_a_browser_signed_in_to_another_account_gets_the_page_too(client, open_signup):
    made = _signs_up(Client())
    User.objects.create_user(email="other@corp.example", password="others-own-pass-4410")
    assert client.login(email="other@corp.example", password="others-own-pass-4410")

    page = client.post(_mailed(CONFIRM), follow=True)

    _chooses_on(page, client)
    made.refresh_from_db()
    assert made.check_password(CHOSEN)


@pytest.mark.django_db
def test_in_the_browser_that_signed_up_the_password_stays(open_signup):
    browser = Client()
    made = _signs_up(browser)

    page = browser.post(_mailed(CONFIRM), follow=True).content.decode()

    assert _confirmed(made).details == _ended()
    assert "Forgot password</a> (the one typed" not in page
    assert _signs_in(browser, TYPED)


@pytest.mark.django_db
def test_a_browser_waiting_to_sign_in_to_another_account_does_not_count(open_signup):
    made = _signs_up(Client())
    browser = Client()
    _signs_up(browser, "someone@corp.example")  # its pending sign-in is that account's
    link = [m for m in mail.outbox if m.to == [ADDRESS]][-1].body

    browser.post(link[link.index(CONFIRM) :].split()[0])

    made.refresh_from_db()
    assert not made.has_usable_password()
    assert _confirmed(made).details == _ended(password=True)


@pytest.mark.django_db
def test_a_reset_keeps_the_password_it_chose(client, open_signup):
    made = _signs_up(Client())

    _resets(client)

    assert EmailAddress.objects.get(user=made).verified
    assert _confirmed(made).details == _ended()
    assert _signs_in(client, CHOSEN)


# F3: an account a single sign-on made, whose provider did not vouch for the address.


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_in_the_browser_that_signed_on_the_identity_stays():
    signed_on = _signs_in_with_single_sign_on(ADDRESS, uid="owner", vouched=False)
    made = User.objects.get(email=ADDRESS)
    browser = _in_this_browser(signed_on)

    browser.post(_mailed(CONFIRM))

    assert not unconfirmed_sign_up(made)
    assert list(SocialAccount.objects.filter(user=made).values_list("uid", flat=True)) == ["owner"]
    assert _confirmed(made).details == _ended()
    again = _signs_in_with_single_sign_on(ADDRESS, uid="owner", vouched=False)
    assert again.session.get("_auth_user_id") == str(made.pk)


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_from_another_browser_the_owner_is_told_how_to_get_in(client):
    made = _squatted()

    page = client.post(_mailed(CONFIRM), follow=True)

    assert not _squatter_signs_in_to(made)
    assert NO_IDENTITY_LEFT in page.content.decode()
    _chooses_on(page, client)
    assert _signs_in(client, CHOSEN)


# F4: two confirmations at once.


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_two_confirmations_at_once_record_one_event():
    made = _squatted()
    first = EmailAddress.objects.get(user=made)
    second = EmailAddress.objects.get(user=made)  # loaded by a second request meanwhile

    assert get_adapter().confirm_email(_request(), first)
    assert not get_adapter().confirm_email(_request(), second)

    confirmed = AuditEvent.objects.filter(action=AuditEvent.Action.ADDRESS_CONFIRMED)
    assert list(confirmed.values_list("details", flat=True)) == [_ended(identities=1)]


# F5: the identities it unlinks, in the trail as any other unlinked identity.


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_each_identity_it_unlinks_is_recorded_and_no_mail_is_sent(client):
    made = _squatted()
    SocialAccount.objects.create(user=made, provider="sso", uid="squatter-2")
    link = _mailed(CONFIRM)
    mailed = len(mail.outbox)

    client.post(link)

    unlinked = AuditEvent.objects.filter(
        action=AuditEvent.Action.IDENTITY_UNLINKED, target_id=str(made.public_id)
    )
    assert list(unlinked.values_list("details", flat=True)) == [{"provider": "sso"}] * 2
    assert _confirmed(made).details == _ended(identities=2)
    assert len(mail.outbox) == mailed


# The address proved by a provider that vouches for it.


@pytest.mark.django_db
@pytest.mark.usefixtures("single_sign_on")
def test_a_vouching_sign_on_revokes_the_tokens_and_says_so():
    _signs_in_with_single_sign_on(ADDRESS, uid="owner", vouched=False)
    made = User.objects.get(email=ADDRESS)
    secret = _token_of(made)

    request = _signs_in_with_single_sign_on(ADDRESS, uid="owner", vouched=True)

    assert request.session.get("_auth_user_id") == str(made.pk)
    with pytest.raises(TokenRefused):
        authenticate(secret)
    assert _confirmed(made).details == {"via": "single sign-on", **_ended(tokens=1)}
    told = [str(message) for message in request._messages]
    assert any("The API token made before your address was confirmed" in m for m in told)
