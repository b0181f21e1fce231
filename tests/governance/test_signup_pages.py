"""The pages of open sign-up speak as Steward's others: what happens next, and what to do if
it was not you."""

import re

import pytest
from django.core import mail

from tests.security.test_open_signup_verification import open_signup  # noqa: F401  (fixture)

ADDRESS = "newcomer@corp.example"
PASSWORD = "a-good-long-pass-4471"


@pytest.mark.django_db
def test_the_sign_in_page_offers_an_account_only_where_sign_up_is_open(client, settings):
    closed = client.get("/accounts/login/").content.decode()
    assert "No invitation? Ask your Steward administrator for one." in closed
    assert "/accounts/signup/" not in closed
    settings.STEWARD_OPEN_SIGNUP = True
    opened = client.get("/accounts/login/").content.decode()
    assert '<a href="/accounts/signup/">Create an account</a>' in opened
    assert "No invitation?" not in opened


@pytest.mark.django_db
@pytest.mark.usefixtures("open_signup")
def test_sign_up_says_a_link_comes_and_the_link_asks_whether_it_was_you(client):
    page = client.get("/accounts/signup/").content.decode()
    assert '<h1 class="entrance-title">Create an account</h1>' in page
    assert "Steward sends a link there" in page
    sent = client.post(
        "/accounts/signup/",
        {"email": ADDRESS, "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    ).content.decode()
    assert "Steward has sent a link to your email address." in sent
    link = re.search(r"/accounts/confirm-email/[^/\s]+/", mail.outbox[0].body)[0]
    confirm = client.get(link).content.decode()
    assert f"Confirm that <strong>{ADDRESS}</strong> is your address" in confirm
    assert "If you did not, do not confirm it" in confirm


@pytest.mark.django_db
@pytest.mark.usefixtures("open_signup")
def test_a_dead_confirmation_link_says_how_to_get_another(client):
    page = client.get("/accounts/confirm-email/no-such-key/").content.decode()
    assert "This link has expired or was already used." in page
    assert "Steward sends a new link" in page
