"""Steward's own deployment checks (``manage.py check --deploy``): settings Steward runs
without, yet should not be deployed without."""

from email.utils import parseaddr

from django.conf import settings
from django.core import checks

from config.env import unknown_variables


@checks.register("steward", deploy=True)
def check_privacy_contact(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every access copy names who answers for the data (GDPR Art. 13 and 15); without a
    contact it can only point the person at "the privacy team"."""
    if settings.STEWARD_PRIVACY_CONTACT:
        return []
    return [
        checks.Warning(
            "STEWARD_PRIVACY_CONTACT is not set: access copies cannot say who answers for "
            "the data nor how to reach them.",
            hint="Set it to the controller and its data protection officer's contact, e.g. "
            "'Example Ltd, Data Protection Officer, dpo@example.com'.",
            id="steward.W201",
        )
    ]


@checks.register("steward", deploy=True)
def check_sender_address(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Mail that goes out (``EMAIL_HOST`` is set; without it, it is printed) comes from
    ``DEFAULT_FROM_EMAIL``. Its default, ``steward@localhost``, is at no domain a mail server
    can check: relays refuse it, and recipients' servers file it as spam."""
    if not settings.EMAIL_HOST:
        return []
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rpartition("@")[2].lower()
    if "." in domain and not domain.endswith((".localhost", ".localdomain")):
        return []
    return [
        checks.Warning(
            f"Steward's mail goes out from {address or settings.DEFAULT_FROM_EMAIL} "
            "(DEFAULT_FROM_EMAIL), an address at no domain of yours: mail servers often refuse "
            "it or file it as spam.",
            hint="Set DEFAULT_FROM_EMAIL to an address at your domain that your mail server "
            "accepts, e.g. 'Steward <steward@example.com>'.",
            id="steward.W203",
        )
    ]


@checks.register("steward", deploy=True)
def check_any_host(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The links Steward mails (a password reset, an address to confirm, an invitation)
    are built from the request's Host header: with ``ALLOWED_HOSTS=*`` anyone may send a
    request naming their own host, and the link mailed to a colleague then leads there,
    its key with it."""
    if "*" not in settings.ALLOWED_HOSTS:
        return []
    return [
        checks.Warning(
            "ALLOWED_HOSTS is '*': a request may name any host, and the links Steward mails "
            "(password resets, invitations) are built from it, so a forged one would send a "
            "colleague's link, and its key, to another site.",
            hint="List the names Steward is reached by, e.g. ALLOWED_HOSTS=steward.example.com "
            "(/healthz answers whatever the host, for a load balancer's health check).",
            id="steward.W204",
        )
    ]


@checks.register("steward")
def check_unknown_variables(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A ``STEWARD_*`` variable Steward does not read is most likely a misspelt one, whose
    setting then silently keeps its default (``STEWARD_REQUIRE_MFA`` spelt without its R)."""
    unknown = unknown_variables(settings.STEWARD_BACKEND_KEY_VARIABLES)
    return [
        checks.Warning(
            f"{name} is set, but Steward reads no variable of that name: its value is ignored.",
            hint=f"Did you mean {meant}?" if meant else "See the README's Configuration table.",
            id="steward.W202",
        )
        for name, meant in unknown.items()
    ]
