"""Whoever signs up under a colleague's address gets no way in before the address is
confirmed from its mailbox: not the account's pages, the token page or the REST API through
the sign-in they began, not a password reset (its link goes to the mailbox), and not by
adding an address of their own (the address page is read-only). Review of open sign-up's
address confirmation; each way was tried with the test client."""

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

ADDRESS = "victim@corp.example"
PASSWORD = "typed-by-someone-else-9931"


@pytest.fixture
def began_signing_in(client, settings):
    """Signed up under ADDRESS and tried to sign in: allauth keeps the half-done sign-in in
    the session, waiting for the address to be confirmed."""
    settings.STEWARD_OPEN_SIGNUP = True
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    signed_up = {"email": ADDRESS, "password1": PASSWORD, "password2": PASSWORD}
    client.post("/accounts/signup/", signed_up)
    client.post("/accounts/login/", {"login": ADDRESS, "password": PASSWORD})
    mail.outbox.clear()
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/settings/tokens/",
        "/accounts/password/change/",
        "/accounts/2fa/",
        "/accounts/2fa/authenticate/",
        "/accounts/login/code/confirm/",
        "/accounts/reauthenticate/",
        "/accounts/3rdparty/",
    ],
)
def test_the_half_done_sign_in_opens_no_page(began_signing_in, path):
    response = began_signing_in.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_half_done_sign_in_opens_no_api(began_signing_in):
    response = began_signing_in.get("/api/governance/categories/")
    assert response.status_code in (401, 403)


@pytest.mark.django_db
def test_the_maker_cannot_add_an_address_of_their_own(began_signing_in):
    added = {"action_add": "", "email": "me@elsewhere.example"}
    response = began_signing_in.post("/accounts/email/", added)
    assert response.status_code in (302, 405)
    assert list(EmailAddress.objects.values_list("email", flat=True)) == [ADDRESS]


@pytest.mark.django_db
def test_a_password_reset_goes_to_the_mailbox_and_signs_nobody_in(began_signing_in):
    began_signing_in.post("/accounts/password/reset/", {"email": ADDRESS})
    assert [m.to for m in mail.outbox] == [[ADDRESS]]
    assert "_auth_user_id" not in began_signing_in.session
    # The reauthentication page takes the password only from someone signed in.
    began_signing_in.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert "_auth_user_id" not in began_signing_in.session
