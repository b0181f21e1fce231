"""The invitation's link: choosing a first password, and what comes next; a reset stays a change."""

import re

import pytest
from django.core import mail

from governance.models import User
from tests.factories import make_user


def _link(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", body).group(1)


def _submitted(client, page, password: str):
    """The password form posted as a browser would, its hidden fields included."""
    html = page.content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    data = {**hidden, "password1": password, "password2": password}
    return client.post(page.redirect_chain[-1][0], data, follow=True)


def _invited(client, admin) -> str:
    client.force_login(admin)
    client.post(
        "/policy/users/", {"email": "new@acme.test", "full_name": "New", "roles": ["staff"]}
    )
    client.logout()
    return _link(mail.outbox[-1].body)


@pytest.mark.django_db(transaction=True)
def test_the_invitation_link_opens_a_page_about_choosing_a_first_password(client, admin):
    page = client.get(_invited(client, admin), follow=True).content.decode()
    assert "Choose your password" in page
    assert "new@acme.test" in page
    assert "Change Password" not in page


@pytest.mark.django_db(transaction=True)
def test_once_chosen_it_says_to_sign_in_and_mentions_two_factor(client, admin):
    password = "a-first-password-9137"
    done = _submitted(client, client.get(_invited(client, admin), follow=True), password)
    page = done.content.decode()
    assert "Your password is now changed" not in page
    assert "Password chosen" in page and "sign in" in page and "two-factor" in page
    assert User.objects.get(email="new@acme.test").check_password(password)


@pytest.mark.django_db(transaction=True)
def test_a_password_reset_is_still_a_change(client):
    make_user("alice@acme.test")
    client.post("/accounts/password/reset/", {"email": "alice@acme.test"})
    response = client.get(_link(mail.outbox[-1].body), follow=True)
    assert "Change Password" in response.content.decode()
    assert "Choose your password" not in response.content.decode()
    done = _submitted(client, response, "another-password-5521")
    assert "Your password is now changed." in done.content.decode()
