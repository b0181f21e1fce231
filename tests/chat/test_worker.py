"""Real Celery workers against real Redis and PostgreSQL: what happens when one is killed.

A worker answering a message is killed with SIGKILL (its pool child alone, as
the kernel's OOM killer would; or the whole worker, as a lost machine would).
The answer must still arrive, once: Celery hands the task to another worker
(at once for a lost child, after the visibility timeout for a lost worker, every answer
it was streaming when it ran them in threads, as ``manage.py serve`` does;
or beat's sweeper queues it again when the broker has nothing to redeliver),
and that worker sees the answer's heartbeat has stopped and takes it over.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest
from django.conf import settings
from django.db import connection

from audit.models import AuditEvent
from chat import answering, services
from chat.models import Message
from config.celery import app as celery_app
from tests.chat.conftest import KEY

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY_SECONDS = 6
#: Words in the slow answer, one every 0.2 s: 12 s, while starting a worker can take 7.
WORDS = 60


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database only on PostgreSQL")


@pytest.fixture
def start_worker(tmp_path):
    """Start real workers on the external queue; all are killed after the test."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    database = dict(
        zip(
            ("scheme", "netloc", "path", "query", "fragment"),
            urlsplit(os.environ["DATABASE_URL"]),
            strict=True,
        )
    )
    database["path"] = "/" + connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": urlunsplit(tuple(database.values())),
        "REDIS_URL": settings.REDIS_URL,
        "STEWARD_DATA_DIR": str(tmp_path),
        "SECRET_KEY": settings.SECRET_KEY,
        "STEWARD_MASTER_KEY": settings.STEWARD_MASTER_KEY,
        "STEWARD_AUDIT_SIGNING_KEY": settings.STEWARD_AUDIT_SIGNING_KEY,
        "STEWARD_TASK_VISIBILITY_SECONDS": str(VISIBILITY_SECONDS),
        "STEWARD_TEST_OPENAI_KEY": KEY,
        "LOG_LEVEL": "WARNING",
    }
    workers = []

    def start(
        name: str, pool: str = "prefork", concurrency: int = 1, queue: str = "inference_external"
    ) -> subprocess.Popen:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queue,
                "-c",
                str(concurrency),
                "-P",
                pool,
                "-n",
                f"{name}@%h",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "WARNING",
            ],  # fmt: skip
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        workers.append(worker)
        _wait(lambda: _answers_ping(f"{name}@"), 30, f"worker {name} to start")
        return worker

    try:
        yield start
    finally:
        # Eager again first: a worker slow to be reaped on a busy machine (wait's timeout)
        # must not leave every later test of the run publishing for real.
        celery_app.conf.task_always_eager = eager
        for worker in workers:
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            worker.wait(timeout=60)


def _answers_ping(prefix: str) -> bool:
    replies = celery_app.control.ping(timeout=0.5) or []
    return any(name.startswith(prefix) for reply in replies for name in reply)


def _wait(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _answer_streaming(org):
    """Send a message whose answer takes a while (longer than a worker takes to start on a
    loaded machine, so a kill lands mid-answer), and wait until a worker is on it."""
    (answer,) = _send_slow(org.external, org.alice, org.internal, 1)
    _wait(lambda: len(org.external.requests) == 1, 30, "the backend to be called")
    return answer


def _send_slow(fake, author, category, count: int) -> list:
    """``count`` messages, each in a conversation of its own, that ``fake`` answers in 12 s."""
    fake.reply = [f"word{i} " for i in range(WORDS)]
    fake.delay = 0.2
    return [
        services.send_message(
            conversation=services.start_conversation(owner=author, category=category),
            author=author,
            text="Count",
        ).answer
        for _ in range(count)
    ]


def _status(answer) -> tuple[str, int]:
    """The answer's state, running beat's sweeper on the way (as beat does every 5 s)."""
    global _last_sweep
    if time.monotonic() - _last_sweep > 5:
        _last_sweep = time.monotonic()
        answering.sweep()
    answer.refresh_from_db()
    return answer.status, answer.attempt


_last_sweep = 0.0


def test_an_answer_survives_its_pool_child_being_killed(org, start_worker, capsys):
    worker = start_worker("first")
    answer = _answer_streaming(org)
    child = psutil.Process(worker.pid).children()[0]
    child.kill()
    took = _wait(lambda: _status(answer)[1] == 2, 30, "the answer to be taken over")
    _wait(lambda: _status(answer)[0] == "done", 30, "the answer to finish")
    assert answer.content == "".join(f"word{i} " for i in range(WORDS))
    assert AuditEvent.objects.filter(action="chat.response").count() == 1
    with capsys.disabled():
        print(f"\n  pool child killed: answer taken over after {took:.1f} s")


def test_an_answer_survives_its_whole_worker_being_killed(org, start_worker, capsys):
    first = start_worker("first")
    answer = _answer_streaming(org)
    start_worker("second")
    os.killpg(first.pid, signal.SIGKILL)
    took = _wait(lambda: _status(answer)[1] == 2, 60, "the answer to be taken over")
    _wait(lambda: _status(answer)[0] == "done", 30, "the answer to finish")
    assert Message.objects.get(pk=answer.pk).content.startswith("word0 word1")
    assert AuditEvent.objects.filter(action="chat.response").count() == 1
    assert len(org.external.requests) == 2
    with capsys.disabled():
        print(
            f"\n  worker killed: answer taken over after {took:.1f} s "
            f"(visibility timeout {VISIBILITY_SECONDS} s)"
        )


def test_a_threads_worker_answers_several_at_once_and_all_survive_its_loss(org, start_worker):
    """``manage.py serve``'s external worker: answers in threads, so a third author does not
    wait for one of two pool processes to finish; killed, every answer it had is taken over."""
    first = start_worker("first", pool="threads", concurrency=4)
    answers = _send_slow(org.external, org.alice, org.internal, 3)
    _wait(lambda: org.external.requests, 60, "the worker to start answering")
    # All three called at once (threads), and the kill lands well before the first of them
    # (12 s long) could end: a wider window let one finish first on a loaded machine.
    _wait(lambda: len(org.external.requests) == 3, 3, "three backend calls at once")
    start_worker("second", pool="threads", concurrency=4)
    os.killpg(first.pid, signal.SIGKILL)
    try:
        for answer in answers:
            _wait(lambda answer=answer: _status(answer) == ("done", 2), 90, "every answer")
    except AssertionError as exc:  # once in CI: say where each answer stood
        raise AssertionError(f"{exc}: {[_status(a) for a in answers]}") from None
    assert AuditEvent.objects.filter(action="chat.response").count() == 3
    assert len(org.external.requests) == 6


def test_the_local_worker_answers_an_on_premise_ollama_s_questions_side_by_side(org, start_worker):
    """Category 3 goes only to on-premise backends: one answer at a time there made every
    confidential question wait for the one before it."""
    start_worker("local", pool="threads", concurrency=4, queue="inference_local")
    answers = _send_slow(org.local, org.carol, org.confidential, 2)
    _wait(lambda: org.local.requests, 60, "the worker to start answering")
    _wait(lambda: len(org.local.requests) == 2, 3, "two calls to Ollama at once")
    for answer in answers:
        _wait(lambda answer=answer: _status(answer)[0] == "done", 60, "both answers")
        assert answer.backend_name == "Local Ollama"
