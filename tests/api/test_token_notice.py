"""The owner is mailed whenever a token is made in their name: its name, expiry and when,
never the token. A mail that fails loses no token."""

import io
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.utils import dateformat, timezone

from api.models import ApiToken, digest

URL = "/settings/tokens/"


class MailServerDown(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise smtplib.SMTPRecipientsRefused({"member@example.com": (550, b"no such mailbox")})


def _when(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "j F Y, H:i")


def test_the_owner_is_mailed_the_name_expiry_and_time_never_the_token(
    signed_in_now, member, django_capture_on_commit_callbacks
):
    client = signed_in_now(member)
    with django_capture_on_commit_callbacks(execute=True):
        made = client.post(URL, {"name": "notebook", "expires_in_days": "30"})
    token = ApiToken.objects.get(user=member)
    [notice] = mail.outbox
    assert notice.to == [member.email]
    assert notice.subject == "[Steward] A new API token was made for your account"
    body = notice.body
    assert "“notebook”" in body
    assert _when(token.created_at) in body
    assert dateformat.format(timezone.localtime(token.expires_at), "j F Y") in body
    assert "on the API tokens page, signed in as you" in body
    assert made.context["secret"] not in body and token.lookup not in body and "stw_" not in body


def test_a_token_that_never_expires_says_so(member, token_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        token_for(member, name="CI")
    assert "Expires: never" in mail.outbox[0].body


def test_a_token_an_operator_made_is_mailed_too(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "create_api_token", member.email, "--name", "CI", stdout=io.StringIO(),
            stderr=io.StringIO(),
        )  # fmt: skip
    [notice] = mail.outbox
    assert notice.to == [member.email]
    assert "manage.py create_api_token" in notice.body and "“CI”" in notice.body


@pytest.mark.django_db(transaction=True)
def test_a_mail_that_fails_loses_no_token(signed_in_now, member, settings, caplog):
    """The mail goes after the token is saved, in the same request: a refused one is logged
    (its exception's type; its text may quote the address) and the page still shows the
    token's only copy."""
    client = signed_in_now(member)
    settings.EMAIL_BACKEND = f"{__name__}.MailServerDown"
    made = client.post(URL, {"name": "notebook", "expires_in_days": "30"})
    assert made.status_code == 200
    secret = made.context["secret"]
    assert ApiToken.objects.get(user=member).digest == digest(secret)
    assert "SMTPRecipientsRefused" in caplog.text
    assert member.email not in caplog.text and secret not in caplog.text
