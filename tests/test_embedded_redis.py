"""config.embedded_redis: the Redis server `manage.py serve` starts when REDIS_URL is unset."""

import fcntl
import socket

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
