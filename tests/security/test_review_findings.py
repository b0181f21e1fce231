"""A security reviewer's findings (2026-12-05): no address in the log of a refused notice, and
no second HTML front end for the REST API."""

import smtplib

import pytest
from django.core.mail.backends.locmem import EmailBackend

from governance.roles import Role
from tests.api.test_paging import BROWSER_ACCEPTS
from tests.factories import make_user

LOGGED = "governance.adapters"


@pytest.mark.django_db
def test_a_security_notice_the_mail_server_refuses_logs_no_address(client, monkeypatch, caplog):
    """The notice of a changed password, refused by the mail server: the log says which
    notice and whose account (its public id), never the address the server quoted back."""
    alice = make_user("alice@acme.test", password="the-old-password-1")

    def refuse(self, messages):
        raise smtplib.SMTPRecipientsRefused({"alice@acme.test": (550, b"5.1.1 no such user")})

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    client.force_login(alice)
    with caplog.at_level("WARNING", logger=LOGGED):
        client.post(
            "/accounts/password/change/",
            {
                "oldpassword": "the-old-password-1",
                "password1": "a-new-password-8812",
                "password2": "a-new-password-8812",
            },
        )
    logged = [record.getMessage() for record in caplog.records if record.name == LOGGED]
    assert logged, "the refused notice is logged"
    assert not any("alice@acme.test" in line for line in logged)


@pytest.mark.django_db
def test_the_rest_api_answers_a_browser_in_json_not_a_page_of_its_own(client):
    """A browser (Accept: text/html) signed in gets the same JSON a program gets: not DRF's
    browsable API, a second HTML front end for the same data with forms for every write,
    whose inline scripts the site's Content-Security-Policy blocks anyway."""
    client.force_login(make_user("aaron@example.com", Role.AUDITOR))
    response = client.get("/api/audit/events/", headers={"accept": BROWSER_ACCEPTS})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
