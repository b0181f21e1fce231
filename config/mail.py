"""Steward's mail: the notices sent once a change is committed, and the console backend of
embedded mode.

The console backend prints to stderr. Django's prints each message to stdout, where a
command's answer goes: ``T=$(manage.py create_api_token …)`` captured the owner's notice
ahead of the token. On stderr the mail still shows in the terminal and in ``make run``'s
output, and stdout holds the answer alone.
"""

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.core.mail.backends import console
from django.db import transaction
from django.template.loader import render_to_string


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
