"""Logs carry no message text: exception messages are withheld, frames are kept."""

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from config.broker import broker_url
from config.middleware import WithholdExceptionText

ROOT = Path(__file__).resolve().parent.parent


def test_it_keeps_the_frames_and_withholds_the_exception_text():
    written = "".join(["Mail jane", ".roe@example.org the con", "tract"])
    try:
        int(written)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        record.exc_info = sys.exc_info()
    assert WithholdExceptionText().filter(record)
    line = logging.Formatter().format(record)
    assert "jane.roe" not in line and "contract" not in line
    assert "builtins.ValueError: [text withheld]" in line
    assert "test_it_keeps_the_frames" in line  # where it happened is still there


def test_a_clients_error_is_logged_in_one_line(client, django_user_model, caplog):
    """Django logs a 403 with its traceback: one per page a person may not see."""
    client.force_login(django_user_model.objects.create_user("s@example.com", password="x"))
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/policy/").status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert WithholdExceptionText().filter(record)
    assert logging.Formatter().format(record) == "Forbidden (Permission denied): /policy/"


def test_the_configured_handler_withholds_it():
    from django.conf import settings

    assert "withhold_exception_text" in settings.LOGGING["handlers"]["stderr"]["filters"]


def test_paths_are_logged_without_query_strings_or_an_emailed_links_key():
    from django.conf import settings

    from config.web import LoggablePaths

    assert "loggable_paths" in settings.LOGGING["handlers"]["stderr"]["filters"]
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s",
        ("/accounts/password/reset/key/3-c3x7vq-0f1e2d3c/?x=1",), None,
    )  # fmt: skip
    assert LoggablePaths().filter(record)
    assert record.getMessage() == (
        "Internal Server Error: /accounts/password/reset/key/[key withheld]/"
    )


def test_celery_says_nothing_per_task_at_the_usual_level():
    """Beat sends the answer sweep every 5 s: at INFO, one line each time, plus the worker's
    received and succeeded lines, buried what a person reads in `make run`'s output."""
    from django.conf import settings

    for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
        assert settings.LOGGING["loggers"][name]["level"] == "WARNING", name


@pytest.mark.integration
def test_a_workers_logs_withhold_exception_text_too(redis_server, tmp_path):
    """The workers run the answering code. Celery replaced the logging set up above with
    its own, whose tracebacks and failed-task lines quoted the exception's text; and its
    ``-l`` level stood in for LOG_LEVEL."""
    queue = f"logging-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LOG_LEVEL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        STEWARD_DATA_DIR=str(tmp_path),
        REDIS_URL=redis_server,
        LOG_LEVEL="INFO",
    )
    # As manage.py serve starts its workers, on a queue of this test's own.
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--quiet", "-A", "config", "worker", "-Q", queue,
         "-P", "threads", "-c", "1", "-n", f"{queue}@%h", "-l", "WARNING",
         "--include", "tests.fakes.logging_task"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        with Celery(broker=broker_url(redis_server)) as sender:
            sender.send_task("tests.logging_task.fail", queue=queue)
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("raised unexpected" in x for x in lines):
            line = worker.stdout.readline()
            assert line, "".join(lines)  # the worker exited
            lines.append(line)
    finally:
        worker.terminate()
        output = "".join(lines) + worker.communicate(timeout=30)[0]
    assert "logging-task began" in output  # LOG_LEVEL's INFO, not -l WARNING
    assert "answer x failed unexpectedly" in output
    assert "builtins.ValueError: [text withheld]" in output
    assert "raised unexpected: ValueError: [text withheld]" in output
    assert "jane.roe" not in output, output


def test_debug_is_for_stewards_own_code_not_the_libraries_which_quote_what_they_send(tmp_path):
    """At LOG_LEVEL=DEBUG the vendors' SDKs log each request (anthropic its messages, botocore
    the body it signs): message text in the logs. The libraries stay at INFO."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LOG_LEVEL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings", STEWARD_DATA_DIR=str(tmp_path), LOG_LEVEL="DEBUG"
    )
    script = (
        "import django, logging; django.setup()\n"
        "for name in ('anthropic._base_client', 'openai._base_client', 'botocore.endpoint',"
        " 'ollama', 'urllib3.connectionpool', 'httpcore.http11', 'celery.worker'):\n"
        "    logging.getLogger(name).debug('Request options: %s', 'Project NIGHTJAR')\n"
        "logging.getLogger('chat.tasks').debug('own debug line')\n"
        "logging.getLogger('steward.web').debug('own web line')\n"
        "logging.getLogger('anthropic._base_client').info('a library info line')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "NIGHTJAR" not in done.stderr
    assert "own debug line" in done.stderr and "own web line" in done.stderr
    assert "a library info line" in done.stderr
