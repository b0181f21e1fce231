"""A request scoped for the first time waits for a second privacy officer: the officers who
may approve it are mailed once, on commit, with its reference, kind, regime, due date and a
link; never who it is about. The scope stands whatever the mail does."""

import smtplib

import pytest
from django.core import mail
from django.urls import reverse

from governance.roles import Role
from privacy import services
from privacy.models import SubjectRequest
from tests.api.test_rest import _client_of
from tests.factories import make_user
from tests.privacy.conftest import SUBJECT_EMAIL, receive

SITE = "https://steward.example.com"


@pytest.fixture
def olga(db):
    return make_user("olga@corp.example", Role.PRIVACY_OFFICER, full_name="Olga")


def _verified(officers, **overrides) -> SubjectRequest:
    request = receive(officers, **overrides)
    return services.verify_identity(request=request, actor=officers[0], method="Called back")


def _scope(request, actor, capture, *, execute: bool = True) -> SubjectRequest:
    with capture(execute=execute):
        return services.scope_request(request=request, actor=actor, base_url=SITE)


def test_it_asks_the_other_officers_once_the_scope_is_committed(
    officers, olga, django_capture_on_commit_callbacks
):
    priya, omar = officers
    request = _verified(officers, identifiers=[("email", SUBJECT_EMAIL), ("name", "Jane Roe")])
    _scope(request, priya, django_capture_on_commit_callbacks, execute=False)
    assert mail.outbox == []  # not before the commit

    request = _verified(officers)
    _scope(request, priya, django_capture_on_commit_callbacks)
    (email,) = mail.outbox
    assert sorted(email.to) == [olga.email, omar.email]  # not Priya, who scoped it
    assert email.subject == f"[Steward] {request.reference} waits for your approval"
    assert f"Priya has scoped data-subject request {request.reference}." in email.body
    assert "Kind:      Erasure (be forgotten)" in email.body
    assert "Regime:    GDPR" in email.body
    left = request.days_left()
    assert f"Due:       {request.due_on:%-d %B %Y} ({left} days left)" in email.body
    assert f"{SITE}/privacy/requests/{request.public_id}/" in email.body


def test_it_never_names_the_person(officers, django_capture_on_commit_callbacks):
    request = _verified(officers, identifiers=[("email", SUBJECT_EMAIL), ("name", "Jane Roe")])
    request.note = "Jane Roe phoned on Monday"
    request.save(update_fields=["note"])
    _scope(request, officers[0], django_capture_on_commit_callbacks)
    (email,) = mail.outbox
    for said in (email.subject, email.body):
        assert "jane" not in said.lower() and "roe" not in said.lower()


def test_an_officer_the_request_is_about_is_not_asked(
    officers, olga, django_capture_on_commit_callbacks
):
    """Olga may not approve a request naming her own address: only Omar is asked."""
    request = _verified(officers, identifiers=[("email", olga.email)])
    _scope(request, officers[0], django_capture_on_commit_callbacks)
    (email,) = mail.outbox
    assert email.to == [officers[1].email]


def test_scoping_again_asks_nobody_again(officers, django_capture_on_commit_callbacks):
    request = _verified(officers)
    request = _scope(request, officers[0], django_capture_on_commit_callbacks)
    _scope(request, officers[0], django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1


def test_a_mail_failure_is_logged_and_the_scope_stands(
    officers, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def refused(**kwargs):
        raise smtplib.SMTPRecipientsRefused({"omar@corp.example": (550, b"No such user")})

    monkeypatch.setattr("config.mail.send_mail", refused)
    request = _verified(officers)
    _scope(request, officers[0], django_capture_on_commit_callbacks)
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.SCOPED
    assert f"not asked to approve {request.reference} (SMTPRecipientsRefused)" in caplog.text
    assert "omar@corp.example" not in caplog.text


def test_with_no_other_officer_it_logs_that_nobody_was_asked(
    officers, caplog, django_capture_on_commit_callbacks
):
    officers[1].is_active = False
    officers[1].save(update_fields=["is_active"])
    request = _verified(officers)
    _scope(request, officers[0], django_capture_on_commit_callbacks)
    assert mail.outbox == []
    assert "there is no other active privacy officer to ask" in caplog.text


def test_the_page_and_the_rest_scope_both_ask(client, officers, django_capture_on_commit_callbacks):
    priya, omar = officers
    on_the_page = _verified(officers)
    client.force_login(priya)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("privacy:request_scope", args=[on_the_page.public_id]))
    over_rest = _verified(officers, identifiers=[("email", "john.doe@example.org")])
    api = _client_of(priya)  # mails Priya about her new API token
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/privacy/requests/{over_rest.public_id}/scope/").status_code == 200
    asked = [email for email in mail.outbox if "approval" in email.subject]
    assert [(email.to, email.subject) for email in asked] == [
        ([omar.email], f"[Steward] {on_the_page.reference} waits for your approval"),
        ([omar.email], f"[Steward] {over_rest.reference} waits for your approval"),
    ]
    assert f"http://testserver/privacy/requests/{on_the_page.public_id}/" in asked[0].body
    assert f"http://testserver/privacy/requests/{over_rest.public_id}/" in asked[1].body
