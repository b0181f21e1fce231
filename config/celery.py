import logging
import os

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init

import config.broker  # noqa: F401  (registers Steward's Redis transport with kombu)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("steward")
app.config_from_object("config.celery_settings:SETTINGS")
app.autodiscover_tasks()


@app.on_configure.connect
def _settings_or_exit(**kwargs) -> None:
    """Before Celery reads its settings (Django's, config.celery_settings): a refused
    setting ends ``celery -A config worker`` (or beat) with its message, not a traceback."""
    from config.startup import settings_or_exit

    settings_or_exit()


# Celery's Django fixup closes every database connection before and after each task unless
# told how many tasks may reuse one: each answer's task then connected anew, 7–14 ms of
# its way to the first token (bench/chat.py). Tasks keep their connection as web requests
# do: the fixup is told "never" (it closes after twice this many tasks), and the checks
# Django makes around a request are made around each task instead (``CONN_MAX_AGE``, a
# connection that broke, a health check after an idle spell).
app.conf.CELERY_DB_REUSE_MAX = 1_000_000_000


@task_prerun.connect
def _connection_checked(**kwargs) -> None:
    from config.connections import skip_check_if_recent

    if not _eager(kwargs):
        skip_check_if_recent()


@task_postrun.connect
def _connection_kept_if_usable(**kwargs) -> None:
    from django.db import close_old_connections

    from config.connections import mark_used

    if not _eager(kwargs):
        close_old_connections()
        mark_used()


@setup_logging.connect
def _stewards_logging(**kwargs) -> None:
    """Workers and beat log as the web does: ``settings.LOGGING`` (the request id, exception
    text withheld) at ``LOG_LEVEL``. Without a receiver here Celery replaced the root
    logger's handlers with its own, at its ``-l`` level, and tracebacks printed what
    an answer's exception quoted of the message."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    logging.getLogger("celery.app.trace").addFilter(WithholdTaskFailureText())


class WithholdTaskFailureText(logging.Filter):
    """Celery's line for a failed task ("Task … raised unexpected: ValueError('…')") names
    the exception with its text; here with its type only (its traceback's text is withheld
    by ``config.middleware.WithholdExceptionText``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict) and "exc" in record.args:
            kind = str(record.args["exc"]).partition("(")[0]
            record.args = {**record.args, "exc": f"{kind}: [text withheld]"}
        return True


@worker_init.connect
def _refused_under_another_index_key(**kwargs) -> None:
    """A worker under another subject index key would erase by hashes that match nobody:
    it does not start (SystemExit: Celery logs and ignores a receiver's exceptions)."""
    from django.db import DatabaseError, connections

    from chat import index_key

    try:
        refused = index_key.settle()
    except DatabaseError as exc:
        refused = f"the database could not be reached to check the subject index's key: {exc!r}"
    finally:
        connections.close_all()
    if refused:
        raise SystemExit(f"celery worker: {refused}")


@worker_init.connect
def _code_kept_out_of_collections(**kwargs) -> None:
    """Before the pool starts (its processes inherit it): the answering code, every
    backend kind's adapter included (the cloud kinds' modules, boto3 with them, took about
    80 ms on the way to a worker's first answer), loaded and frozen out of the garbage
    collector's rounds (config.heap)."""
    from chat import llm
    from config.heap import freeze_after_loading

    llm.load_adapters()
    freeze_after_loading("chat.answering")  # chat.tasks with it


def _eager(signal_kwargs) -> bool:
    """A task run in the caller's process (tests): the caller's connection is not ours."""
    return bool(getattr(signal_kwargs["task"].request, "is_eager", False))
