"""The invitation's link: choosing a first password, and what comes next; a reset stays a change."""

import re
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend

from governance.models import User
from tests.factories import make_user


def _link(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", body).group(1)


def _submitted(client, page, password: str, **extra: str):
    """The password form posted as a browser would, its hidden fields included."""
    html = page.content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    data = {**hidden, "password1": password, "password2": password, **extra}
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
    assert "Change password" not in page


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
    assert "Change password" in response.content.decode()
    assert "Choose your password" not in response.content.decode()
    done = _submitted(client, response, "another-password-5521")
    assert "Your password is now changed." in done.content.decode()


# --- notices: a first password is not a change -----------------------------------------------


def _mail_since(sent: int) -> list[tuple[list[str], str]]:
    return [(message.to, message.subject) for message in mail.outbox[sent:]]


def _reset_page(client, email: str):
    client.post("/accounts/password/reset/", {"email": email})
    return client.get(_link(mail.outbox[-1].body), follow=True)


@pytest.mark.django_db(transaction=True)
def test_choosing_a_first_password_is_not_announced_as_a_change(client, admin):
    """Neither by mail nor on the page: the person never had a password to change."""
    page = client.get(_invited(client, admin), follow=True)
    sent = len(mail.outbox)
    done = _submitted(client, page, "a-first-password-9137")
    assert _mail_since(sent) == []
    assert "Password successfully changed" not in done.content.decode()
    assert "Password chosen" in done.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_reset_of_an_existing_password_is_announced_by_mail(client):
    """Whatever the form says it is: a forged 'first password' marker changes nothing."""
    make_user("alice@acme.test")
    page = _reset_page(client, "alice@acme.test")
    sent = len(mail.outbox)
    done = _submitted(
        client, page, "another-password-5521", next="/accounts/password/reset/key/done/?first=1"
    )
    assert _mail_since(sent) == [(["alice@acme.test"], "[Steward] Password Reset")]
    assert "Password successfully changed" in done.content.decode()


@pytest.mark.django_db
def test_changing_a_password_is_announced_by_mail(client):
    alice = make_user("alice@acme.test", password="the-old-password-1")
    client.force_login(alice)
    client.post(
        "/accounts/password/change/",
        {
            "oldpassword": "the-old-password-1",
            "password1": "a-new-password-8812",
            "password2": "a-new-password-8812",
        },
    )
    assert _mail_since(0) == [(["alice@acme.test"], "[Steward] Password Changed")]
    # What to do if it was not you, in Steward's words (allauth's: "take proper security
    # precautions immediately").
    body = mail.outbox[-1].body
    assert 'choose a new password at once with "Forgot password?"' in body
    assert "tell your Steward administrator" in body


@pytest.mark.django_db(transaction=True)
def test_a_notice_the_mail_server_refuses_does_not_undo_the_reset(client, monkeypatch):
    """The new password is saved before the notice is sent: the person sees it done."""
    make_user("alice@acme.test")
    page = _reset_page(client, "alice@acme.test")

    def refuse(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    done = _submitted(client, page, "another-password-5521")
    assert done.status_code == 200
    assert "Your password is now changed." in done.content.decode()
    assert User.objects.get(email="alice@acme.test").check_password("another-password-5521")


@pytest.mark.django_db(transaction=True)
def test_the_trail_says_a_first_password_was_chosen_and_a_reset_was_a_reset(client, admin):
    from audit.models import AuditEvent

    _submitted(client, client.get(_invited(client, admin), follow=True), "a-first-password-9137")
    make_user("alice@acme.test")
    _submitted(client, _reset_page(client, "alice@acme.test"), "another-password-5521")
    said = dict(
        AuditEvent.objects.filter(action__startswith="auth.password").values_list(
            "actor__email", "action"
        )
    )
    assert said == {
        "new@acme.test": AuditEvent.Action.PASSWORD_CHOSEN,
        "alice@acme.test": AuditEvent.Action.PASSWORD_RESET,
    }
