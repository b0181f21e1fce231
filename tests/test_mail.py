"""config.mail.mail_after_commit: a notice goes once the change is committed, never for one
rolled back; it is logged, never raised, when it cannot go or has nobody to go to, and the
log names neither an address nor the exception's text."""

import logging
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from config.mail import mail_after_commit
from governance.models import User
from tests.factories import make_user

ADA = "ada@example.com"
NOBODY = "Nobody to tell about %s."
FAILED = "Nobody was told about %s (%s): it is on the desk."

log = logging.getLogger("tests.mail")


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses the recipient, quoting its address."""

    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({ADA: (550, f"No such user {ADA}".encode())})


@pytest.fixture(autouse=True)
def _a_template(settings):
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {
                            "mail/news.txt": "The news: {{ news }}.",
                            "mail/broken.txt": "{% if %}",
                        },
                    )
                ]
            },
        }
    ]


def _mail(recipients=(ADA,), template="mail/news.txt") -> None:
    mail_after_commit(
        recipients=recipients if callable(recipients) else list(recipients),
        subject="DSR-2026-0001 has news",
        template=template,
        context={"news": "it moved"},
        logger=log,
        nobody=NOBODY,
        failed=FAILED,
        log_args=("DSR-2026-0001",),
    )


def test_it_mails_once_the_change_is_committed(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _mail()
    assert len(callbacks) == 1 and mail.outbox == []  # not before the commit
    callbacks[0]()
    (email,) = mail.outbox
    assert email.to == [ADA]
    assert email.subject == "[Steward] DSR-2026-0001 has news"
    assert email.body == "The news: it moved."


def test_a_change_rolled_back_mails_nobody(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            _mail()
            raise RuntimeError("the change fails")
    assert callbacks == [] and mail.outbox == []


def test_the_recipients_may_be_read_after_the_commit(db, django_capture_on_commit_callbacks):
    read = []

    def recipients() -> list[str]:
        read.append(True)
        return [ADA]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _mail(recipients)
    assert read == []
    callbacks[0]()
    assert read == [True] and [email.to for email in mail.outbox] == [[ADA]]


@pytest.mark.parametrize(
    ("template", "error"),
    [("mail/news.txt", "SMTPRecipientsRefused"), ("mail/broken.txt", "TemplateSyntaxError")],
)
def test_a_mail_that_fails_is_logged_with_its_type_only_and_the_change_stands(
    db, settings, caplog, django_capture_on_commit_callbacks, template, error
):
    settings.EMAIL_BACKEND = "tests.test_mail.RefusingBackend"
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            make_user("changed@example.com")
            _mail(template=template)
    assert User.objects.filter(email="changed@example.com").exists()
    assert [r.getMessage() for r in caplog.records if r.name == "tests.mail"] == [
        f"Nobody was told about DSR-2026-0001 ({error}): it is on the desk."
    ]
    assert ADA not in caplog.text and "No such user" not in caplog.text


@pytest.mark.parametrize("recipients", [[], lambda: []], ids=["list", "read after commit"])
def test_with_nobody_to_tell_it_logs_so(db, caplog, django_capture_on_commit_callbacks, recipients):
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        _mail(recipients)
    assert mail.outbox == []
    assert [r.getMessage() for r in caplog.records if r.name == "tests.mail"] == [
        "Nobody to tell about DSR-2026-0001."
    ]
