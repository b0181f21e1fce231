"""Loading the settings at an entry point (``manage.py``, ``python -m config.web``, the
Celery commands): a setting Steward refuses ends the process with its message alone.

Each refusal (``ImproperlyConfigured``) says what is wrong and which variable to change, but
it came on the last line of a traceback of 40 to 70 lines through Django's and Celery's
start-up, which said nothing more.
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

#: The exit status of a refused setting: a usage error, as for a command's bad argument.
MISCONFIGURED = 2


def settings_or_exit() -> None:
    """Load Django's settings, or print ``steward: <why>`` to stderr and exit with status 2."""
    from django.conf import settings

    from audit.signing import check_trusted_keys

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        settings.INSTALLED_APPS  # noqa: B018  (reading a setting loads them all)
        # Refused by audit.apps once the apps load, past this function's reach, in a
        # traceback: checked here too, to be said in one line.
        check_trusted_keys(settings.STEWARD_AUDIT_TRUSTED_KEYS)
    except ImproperlyConfigured as exc:
        print(f"steward: {exc}", file=sys.stderr)
        sys.exit(MISCONFIGURED)
