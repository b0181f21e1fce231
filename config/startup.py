"""Loading the settings at an entry point (``manage.py``, ``python -m config.web``, the
Celery commands): a setting Steward refuses ends the process with its message alone.

Each refusal (``ImproperlyConfigured``) says what is wrong and which variable to change, but
it came on the last line of a traceback of 40 to 70 lines through Django's and Celery's
start-up, which said nothing more. A REDIS_URL naming a database the Redis server does not
have is refused here too, when that server answers.
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

#: The exit status of a refused setting: a usage error, as for a command's bad argument.
MISCONFIGURED = 2
#: How long the start waits for Redis to say whether it has REDIS_URL's database.
REDIS_ANSWER_SECONDS = 2.0


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
        # Refused by Redis at first use, and then only as /healthz's "redis: error".
        if problem := redis_database_problem(settings.REDIS_URL):
            raise ImproperlyConfigured(problem)
    except ImproperlyConfigured as exc:
        print(f"steward: {exc}", file=sys.stderr)
        sys.exit(MISCONFIGURED)


def redis_database_problem(url: str, *, timeout: float = REDIS_ANSWER_SECONDS) -> str | None:
    """Why the Redis server at ``url`` refuses the database ``url`` names, if it says so.

    Redis refused one past its ``databases`` setting (16 unless configured) only at first
    use, "DB index is out of range", and /healthz said ``redis: error``. Asked here over a
    connection to database 0, which every server has; the URL is not repeated (it may hold
    a password). A Redis that does not answer, or refuses for another reason, is no answer:
    Steward starts and waits for it, as before (/healthz says so, and ``serve``).
    """
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    connection = client.connection_pool.connection_kwargs
    database = int(connection.get("db") or 0)
    if not database:
        return None
    connection["db"] = 0  # connect without selecting it, then ask for it
    try:
        if not _out_of_range(client, database):
            return None
        try:
            count = int(client.config_get("databases")["databases"])
        except (redis.RedisError, OSError, KeyError, ValueError):  # CONFIG is often not allowed
            count = None
    finally:
        client.close()
    host = connection.get("host", "")
    where = connection.get("path") or (
        f"[{host}]:{connection.get('port')}" if ":" in host else f"{host}:{connection.get('port')}"
    )
    said = f"REDIS_URL names database {database}, but the Redis server at {where} has"
    if count is None:
        return (
            f"{said} fewer (its `databases` setting, 16 by default): use a smaller number "
            "(0 to 15 with the default), or raise that setting."
        )
    return (
        f"{said} {count} (its `databases` setting): use a number from 0 to {count - 1}, or "
        "raise that setting."
    )


def _out_of_range(client, database: int) -> bool:
    """Whether Redis refuses to select ``database`` as past its last; not when it selects
    it, refuses for another reason (a user not allowed to), or does not answer."""
    import redis

    try:
        client.execute_command("SELECT", database)
    except redis.ResponseError as exc:
        return "out of range" in str(exc)
    except (redis.RedisError, OSError):  # down, unreachable, silent
        return False
    return False
