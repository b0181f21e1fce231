"""A new employee's first day: the emails and sign-in pages read as Steward's, in plain words."""

import re
from contextlib import nullcontext

import pytest
from django.core import mail

from governance.roles import Role
from governance.services import invite_user
from tests.factories import make_user


def _invite(admin, captured) -> str:
    with captured(execute=True):
        invite_user(
            email="dana@example.com",
            full_name="Dana Reyes",
            roles=[Role.STAFF],
            actor=admin,
            base_url="http://testserver",
        )
    return mail.outbox[-1].body


def _run_now(execute: bool = True):
    """With a transactional test, commit hooks run by themselves."""
    return nullcontext()


def test_it_lets_the_invitee_check_the_invitation_with_the_person_who_sent_it(
    admin, django_capture_on_commit_callbacks
):
    """A wary employee asks the inviter before using a link: the mail says who, and how."""
    body = _invite(admin, django_capture_on_commit_callbacks)
    assert "Ask Ada Admin (admin@example.com) before you use the link." in body
    assert "the link works once" in body
    assert "read and confirm a short summary of the rules" in body


def test_it_names_the_inviter_by_address_when_they_have_no_name(
    admin, django_capture_on_commit_callbacks
):
    admin.full_name = ""
    admin.save(update_fields=["full_name"])
    body = _invite(admin, django_capture_on_commit_callbacks)
    assert "Ask admin@example.com before you use the link." in body


@pytest.mark.django_db
def test_the_reset_email_says_it_is_from_steward_not_from_a_host_name(client):
    """allauth's said "Hello from testserver!" and "Thank you for using testserver!"."""
    make_user("alice@example.com", password="the-old-password-1")
    client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    body = mail.outbox[-1].body
    assert "Hello from" not in body and "Thank you for using" not in body
    assert "Steward account alice@example.com" in body
    assert "your password stays as it is" in body
    assert "http://testserver/accounts/password/reset/key/" in body


@pytest.mark.django_db
def test_the_unknown_address_email_does_not_offer_a_sign_up_that_is_closed(client):
    client.post("/accounts/password/reset/", {"email": "dana.reyes@example.com"})
    body = mail.outbox[-1].body
    assert mail.outbox[-1].to == ["dana.reyes@example.com"]
    assert "/accounts/signup/" not in body and "sign up for an account" not in body
    assert "ask your Steward administrator for an invitation" in body


@pytest.mark.django_db
def test_the_unknown_address_email_offers_sign_up_where_it_is_open(client, settings):
    settings.STEWARD_OPEN_SIGNUP = True
    client.post("/accounts/password/reset/", {"email": "dana.reyes@example.com"})
    body = mail.outbox[-1].body
    assert "you can create an account here: http://testserver/accounts/signup/" in body
    assert "nobody can sign up on their own" not in body


@pytest.mark.django_db
def test_the_sign_in_page_tells_a_new_employee_to_use_the_invitation_link_first(client):
    """Signing in before choosing a password only said the password was wrong."""
    make_user("dana@example.com", Role.STAFF, password=None)
    page = client.post(
        "/accounts/login/", {"login": "dana@example.com", "password": "a-guess-1234"}
    ).content.decode()
    assert "The email address and/or password you specified are not correct." in page
    assert "Choose your password first with the link in your invitation email." in page


def test_the_first_password_page_does_not_speak_of_other_sites(client):
    page = client.get("/accounts/password/reset/key/done/?first=1").content.decode()
    assert "on most sites" not in page
    assert "two-factor" in page


def _link(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", body).group(1)


def _choose(client, link: str, password: str):
    page = client.get(link, follow=True)
    html = page.content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    data = {**hidden, "password1": password, "password2": password}
    return client.post(page.redirect_chain[-1][0], data, follow=True)


@pytest.mark.django_db(transaction=True)
def test_an_invitation_link_used_twice_tells_dana_to_sign_in(client, admin):
    """It said only "invalid" and offered a new link, to someone who already had a password."""
    link = _link(_invite(admin, _run_now))
    _choose(client, link, "a-first-password-9137")
    page = client.get(link, follow=True).content.decode()
    assert "Link no longer valid" in page
    assert "If you already chose your password with it" in page
    assert 'href="/accounts/login/"' in page


@pytest.mark.django_db(transaction=True)
def test_an_expired_invitation_link_says_how_to_get_a_new_one(client, admin, settings):
    link = _link(_invite(admin, _run_now))
    settings.PASSWORD_RESET_TIMEOUT = -1  # every link is past its time
    page = client.get(link, follow=True).content.decode()
    assert "Link no longer valid" in page
    assert "each link works only once, and only for a few days" in page
    assert 'href="/accounts/password/reset/"' in page
    assert "send the invitation again" in page
