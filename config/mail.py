"""Steward's mail: the notices sent once a change is committed, and the console backend of
embedded mode.

The console backend prints to stderr. Django's prints each message to stdout, where a
command's answer goes: ``T=$(manage.py create_api_token …)`` captured the owner's notice
ahead of the token. On stderr the mail still shows in the terminal and in ``make run``'s
output, and stdout holds the answer alone.
"""

import logging
import re
import smtplib
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.core.mail.backends import console
from django.db import transaction
from django.template.loader import render_to_string


def mail_error(exc: Exception, address: str) -> str:
    """The mail server's complaint about a message to ``address``, short, for the person who
    sent it and the log: without the SMTP password, and "the address" where the server
    quoted it (a refused recipient names it, and logs and audit events hold no address)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        reason = "the recipient was refused: " + "; ".join(
            f"{code} {_text(said)}" for code, said in exc.recipients.values()
        )
    elif isinstance(exc, smtplib.SMTPResponseException):
        reason = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, OSError):
        reason = str(exc) or type(exc).__name__
    else:  # another library's exception: its name says whose complaint it is
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if settings.EMAIL_HOST_PASSWORD:
        reason = reason.replace(settings.EMAIL_HOST_PASSWORD, "…")
    if address:
        reason = re.sub(re.escape(address), "the address", reason, flags=re.IGNORECASE)
    return reason[:200]


def _text(said) -> str:
    return said.decode(errors="replace") if isinstance(said, bytes) else str(said)


def site_address() -> str:
    """The site's address for links in what is sent with no request to read it from (beat's
    reminders, a command's link): https:// and the first ``ALLOWED_HOSTS`` in production,
    this machine's ``PORT`` embedded."""
    hosts = [host for host in settings.ALLOWED_HOSTS if host != "*"]
    if settings.PRODUCTION and hosts:
        return f"https://{hosts[0].lstrip('.')}"
    return f"http://127.0.0.1:{settings.PORT}"


def mail_after_commit(
    *,
    recipients: list[str] | Callable[[], list[str]],
    subject: str,
    template: str,
    context: dict,
    logger: logging.Logger,
    nobody: str,
    failed: str,
    log_args: tuple = (),
) -> None:
    """Once the current transaction commits, mail ``recipients`` (or the addresses that
    function returns then) ``subject``, prefixed with the site's, and ``template`` rendered
    with ``context``. Rolled back, nothing goes.

    The change stands whatever the mail does, so nothing is raised: with nobody to tell,
    ``nobody`` is logged, and a mail that cannot be rendered or sent logs ``failed``. Both
    are logging formats taking ``log_args``, and ``failed`` the exception's type name last:
    never its text, which may quote the addresses."""

    def send() -> None:
        to = recipients() if callable(recipients) else recipients
        if not to:
            logger.warning(nobody, *log_args)
            return
        try:
            send_mail(
                subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
                message=render_to_string(template, context),
                from_email=None,
                recipient_list=to,
            )
        except Exception as exc:  # smtplib's errors, and a mail service library's own
            logger.warning(failed, *log_args, type(exc).__name__)

    transaction.on_commit(send)


class ConsoleEmailBackend(console.EmailBackend):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("stream", sys.stderr)
        super().__init__(*args, **kwargs)
