"""A REDIS_URL naming a database the Redis server does not have (``/40`` where it has the
default 16) stops the web server, the workers and manage.py at start, in one line naming the
fix: Redis refused it only at first use ("DB index is out of range"), and /healthz said
``redis: error``. A Redis that does not answer at start is no refusal, as before: Steward
waits for it (serve says what /healthz answers)."""

import socket
import sys

import pytest
import redis

from config.startup import redis_database_problem
from tests.test_operations import ROOT, _env, _manage, _run

REDIS = "127.0.0.1:6379"  # the machine's Redis, as the suite's REDIS_URL names it
MISSING = 40


@pytest.fixture(scope="module")
def databases() -> int:
    """How many databases the machine's Redis has (16 unless configured)."""
    client = redis.Redis.from_url(f"redis://{REDIS}/0")
    try:
        return int(client.config_get("databases")["databases"])
    finally:
        client.close()


@pytest.fixture
def dead_port() -> int:
    """A port nobody listens on, held bound (no other test can take it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_redis() -> int:
    """A port that takes connections and never says a word (a Redis that hangs)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # the kernel completes each connection; nobody answers
        yield server.getsockname()[1]


def _refusal(databases: int) -> str:
    return (
        f"REDIS_URL names database {MISSING}, but the Redis server at {REDIS} has {databases} "
        f"(its `databases` setting): use a number from 0 to {databases - 1}, or raise that "
        "setting."
    )


def test_it_names_the_database_the_server_lacks_and_the_numbers_it_has(databases):
    assert MISSING >= databases, "the machine's Redis has database 40: pick another"
    assert redis_database_problem(f"redis://{REDIS}/{MISSING}") == _refusal(databases)
    assert redis_database_problem(f"redis://{REDIS}/0?db={MISSING}") == _refusal(databases)


def test_it_takes_every_database_the_server_has(databases):
    for database in (0, 2, databases - 1):
        assert redis_database_problem(f"redis://{REDIS}/{database}") is None


def test_it_says_the_default_when_the_server_keeps_its_settings_to_itself(monkeypatch):
    """A managed Redis often refuses CONFIG (NOPERM, or renamed away)."""

    def refused(self, *args, **kwargs):
        raise redis.ResponseError("NOPERM this user has no permissions to run 'config|get'")

    monkeypatch.setattr(redis.Redis, "config_get", refused)
    assert redis_database_problem(f"redis://{REDIS}/{MISSING}") == (
        f"REDIS_URL names database {MISSING}, but the Redis server at {REDIS} has fewer (its "
        "`databases` setting, 16 by default): use a smaller number (0 to 15 with the "
        "default), or raise that setting."
    )


def test_a_redis_that_is_down_or_silent_is_no_refusal(dead_port, silent_redis):
    assert redis_database_problem(f"redis://127.0.0.1:{dead_port}/{MISSING}") is None
    url = f"redis://127.0.0.1:{silent_redis}/{MISSING}"
    assert redis_database_problem(url, timeout=0.2) is None


def test_database_zero_is_taken_without_asking(monkeypatch):
    """Every Redis server has database 0: the embedded one's URL, and most, name it."""

    def asked(*args, **kwargs):
        raise AssertionError("Redis was asked")

    monkeypatch.setattr(redis.Redis, "execute_command", asked)
    assert redis_database_problem(f"redis://{REDIS}/0") is None
    assert redis_database_problem(f"redis://{REDIS}") is None
    assert redis_database_problem("unix:///nowhere/redis.sock") is None


@pytest.mark.parametrize(
    "entry",
    [
        [str(ROOT / "manage.py"), "check"],
        ["-m", "config.web", "--port", "8802"],
        ["-m", "celery", "-A", "config", "worker"],
        ["-m", "celery", "-A", "config", "beat"],
    ],
    ids=["manage", "web", "worker", "beat"],
)
def test_the_web_server_workers_and_manage_refuse_it_at_start_in_one_line(
    tmp_path, databases, entry
):
    env = _env(tmp_path, REDIS_URL=f"redis://{REDIS}/{MISSING}")
    done = _run([sys.executable, *entry], env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"steward: {_refusal(databases)}"


def test_a_redis_that_is_down_at_start_is_left_to_healthz_as_before(tmp_path, dead_port):
    done = _manage("check", env=_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{dead_port}/40"))
    assert done.returncode == 0, done.stderr
