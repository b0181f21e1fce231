"""Loading the settings at an entry point (``manage.py``, ``python -m config.web``, the
Celery commands): a setting Steward refuses ends the process with its message alone.

Each refusal (``ImproperlyConfigured``) says what is wrong and which variable to change, but
it came on the last line of a traceback of 40 to 70 lines through Django's and Celery's
start-up, which said nothing more.
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

from config.env import time_zone_problem

#: The exit status of a refused setting: a usage error, as for a command's bad argument.
MISCONFIGURED = 2

#: The databases Steward runs on; any other engine failed at its first query, with a
#: traceback (``mysql://``: "Error loading MySQLdb module").
DATABASE_ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")
HIGHEST_PORT = 65535


def settings_or_exit() -> None:
    """Load Django's settings, or print ``steward: <why>`` to stderr and exit with status 2."""
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        if problem := time_zone_problem():  # Django's settings refuse it in a traceback
            raise ImproperlyConfigured(problem)
        settings.INSTALLED_APPS  # noqa: B018  (reading a setting loads them all)
        _refuse_what_django_would_fail_on(settings)
    except ImproperlyConfigured as exc:
        print(f"steward: {exc}", file=sys.stderr)
        sys.exit(MISCONFIGURED)


def _refuse_what_django_would_fail_on(settings) -> None:
    """Values the settings take that fail later, in a traceback: a database Django has no
    driver for, a port no socket binds, a trusted audit key that is no key (refused by
    ``audit.apps`` once the apps load, past this function's reach)."""
    from audit.signing import check_trusted_keys

    check_trusted_keys(getattr(settings, "STEWARD_AUDIT_TRUSTED_KEYS", []))
    databases = getattr(settings, "DATABASES", {})
    engine = databases.get("default", {}).get("ENGINE", DATABASE_ENGINES[0])
    if engine not in DATABASE_ENGINES:
        raise ImproperlyConfigured(  # the engine alone: the URL may hold a password
            "DATABASE_URL must name a PostgreSQL database, such as "
            "postgres://user:password@host:5432/steward (or SQLite's file: sqlite:////path), "
            f"not a {engine.rsplit('.', 1)[-1]} one"
        )
    port = getattr(settings, "PORT", None)
    if port is not None and port > HIGHEST_PORT:
        raise ImproperlyConfigured(f"PORT must be at most {HIGHEST_PORT}, got {port}")
