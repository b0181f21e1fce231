"""The account pages (allauth's, in Steward's templates): sentence case as the menus say
it, the account menu's every page, and a way back from a page reached signed in."""

import re

import pytest

from tests.factories import make_user

pytestmark = pytest.mark.django_db

MANAGE = ["/accounts/password/change/", "/accounts/2fa/", "/accounts/email/"]


def _nav(page: str) -> list[str]:
    nav = re.search(r'<nav class="manage-nav".*?</nav>', page, flags=re.S).group(0)
    return re.findall(r">([^<>]+)</a>", nav)


@pytest.mark.parametrize("path", MANAGE)
def test_the_account_menu_lists_every_page_of_the_user_menu(client, member, path):
    client.force_login(member)
    page = client.get(path).content.decode()
    assert _nav(page) == [
        "Password", "Two-factor authentication", "Email address", "API tokens", "Your data"
    ]  # fmt: skip
    assert 'href="/settings/tokens/"' in page and 'href="/privacy/your-data/"' in page


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/accounts/password/change/", "Change password"),
        ("/accounts/2fa/", "Two-factor authentication"),
        ("/accounts/2fa/totp/activate/", "Confirm access"),  # first, before activating
        ("/accounts/logout/", "Sign out"),
    ],
)
def test_account_headings_are_in_sentence_case(client, member, path, heading):
    client.force_login(member)
    response = client.get(path, follow=True)
    page = response.content.decode()
    assert re.search(rf"<h1[^>]*>\s*{heading}\s*</h1>", page), heading
    for title_case in ("Two-Factor", "Change Password", "Authenticator App", "Recovery Codes",
                       "Sign Out", "Reset My Password"):  # fmt: skip
        assert title_case not in page


def test_the_reset_page_reached_signed_in_keeps_the_apps_layout(client, member):
    """ "Forgot your password?" under the current password opened the sign-in screen: no
    navigation and no way back."""
    client.force_login(member)
    page = client.get("/accounts/password/reset/").content.decode()
    assert '<nav class="mainnav"' in page and '<nav class="manage-nav"' in page
    assert "<h1>Reset your password</h1>" in page
    assert 'href="/accounts/password/change/">change it on the Password page</a>' in page
    assert "Email me a reset link" in page


def test_signed_out_the_reset_page_is_the_sign_in_screens(client, db):
    page = client.get("/accounts/password/reset/").content.decode()
    assert 'class="entrance-card"' in page and '<nav class="mainnav"' not in page
    assert '<h1 class="entrance-title">Reset your password</h1>' in page
    assert "← Back to sign in" in page


def test_a_sign_in_screen_reached_signed_in_leads_back_to_steward(client, db):
    """Confirming access (before a sensitive change) is one of these screens."""
    person = make_user("sso@example.com", password="a-password-4471")
    client.force_login(person)
    page = client.get("/accounts/reauthenticate/").content.decode()
    assert 'class="entrance-card"' in page and "Confirm access" in page
    assert '<a class="entrance-back" href="/">← Back to Steward</a>' in page
    assert "Back to sign in" not in page


def test_the_password_forms_label_their_fields_in_sentence_case(client, member):
    client.force_login(member)
    page = client.get("/accounts/password/change/").text
    assert "Current password" in page and "New password (again)" in page
    assert "New Password" not in page and "Current Password" not in page
