"""The two-factor pages (allauth's, in Steward's templates) in plain words, not allauth's."""

import pytest

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_it_tells_how_to_set_up_the_authenticator_app_in_plain_words(client):
    make_user("member@example.com")
    client.post(
        "/accounts/login/", {"login": "member@example.com", "password": "correct-horse-battery"}
    )  # just signed in: no "Confirm access" first

    page = client.get("/accounts/2fa/totp/activate/").content.decode()

    assert "scan this QR code" in page and "six-digit code the app shows" in page
    assert "If you cannot scan the QR code, type this key into the app instead." in page
    assert "input the verification code" not in page and "reinstall" not in page


def test_the_two_factor_page_says_what_is_set_up_in_plain_words(client):
    client.force_login(make_user("member@example.com"))

    page = client.get("/accounts/2fa/").content.decode()

    assert "Not set up." in page
    assert "An authenticator app is not active." not in page
