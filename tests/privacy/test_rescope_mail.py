"""A request scoped again by another privacy officer changes who may approve it: the officer
who scoped it before now may, and was never asked. They alone are asked, on commit (the others
were asked the first time, and the new scoper no longer may approve it). The same officer
scoping again asks nobody (tests/privacy/test_approval_mail.py)."""

import pytest
from django.core import mail

from privacy import services
from tests.privacy.conftest import SUBJECT_EMAIL
from tests.privacy.test_approval_mail import SITE, _scope, _verified, olga  # noqa: F401  (fixture)


@pytest.mark.usefixtures("olga")
def test_it_asks_the_officer_who_scoped_it_before(officers, django_capture_on_commit_callbacks):
    priya, omar = officers
    request = _scope(_verified(officers), priya, django_capture_on_commit_callbacks)
    assert len(mail.outbox[0].to) == 2  # Omar and Olga were asked
    mail.outbox.clear()

    with django_capture_on_commit_callbacks() as on_commit:
        request = services.scope_request(request=request, actor=omar, base_url=SITE)
    assert mail.outbox == []  # not before the commit
    for callback in on_commit:
        callback()
    (email,) = mail.outbox
    assert email.to == [priya.email]
    assert email.subject == f"[Steward] {request.reference} waits for your approval"
    assert f"Omar has scoped data-subject request {request.reference}." in email.body
    assert f"{SITE}/privacy/requests/{request.public_id}/" in email.body


def test_scoped_back_it_asks_the_other_one_again(officers, django_capture_on_commit_callbacks):
    priya, omar = officers
    request = _scope(_verified(officers), priya, django_capture_on_commit_callbacks)
    request = _scope(request, omar, django_capture_on_commit_callbacks)
    _scope(request, priya, django_capture_on_commit_callbacks)
    assert [email.to for email in mail.outbox] == [[omar.email], [priya.email], [omar.email]]


def test_the_second_ask_never_names_the_person(officers, django_capture_on_commit_callbacks):
    request = _verified(officers, identifiers=[("email", SUBJECT_EMAIL), ("name", "Jane Roe")])
    request = _scope(request, officers[0], django_capture_on_commit_callbacks)
    _scope(request, officers[1], django_capture_on_commit_callbacks)
    email = mail.outbox[-1]
    assert email.to == [officers[0].email]
    for said in (email.subject, email.body):
        assert "jane" not in said.lower() and "roe" not in said.lower()


def test_a_former_officer_who_scoped_it_before_is_not_asked(
    officers, caplog, django_capture_on_commit_callbacks
):
    """Priya scoped it, then left: Omar's new scope has nobody new to ask, and the log does
    not claim there is no other officer (Omar's first mail asked the rest)."""
    priya, omar = officers
    request = _scope(_verified(officers), priya, django_capture_on_commit_callbacks)
    priya.is_active = False
    priya.save(update_fields=["is_active"])
    _scope(request, omar, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    assert "no other active privacy officer" not in caplog.text
    assert f"{request.reference} was scoped again" in caplog.text
