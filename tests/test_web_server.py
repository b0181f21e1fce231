"""config.web: uvicorn in several processes, each on a listening socket of its own."""

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.test_processes import ROOT, _embedded_env, _free_port, _spawned, _wait_for

pytestmark = pytest.mark.integration

CONNECTIONS = 40


def _start(tmp_path: Path, port: int, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "config.web", "--port", str(port), "--workers", str(workers),
         "--no-access-log"],
        env=_embedded_env(tmp_path), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def _answers(port: int) -> bool:
    """Whether a server answers HTTP on ``port`` (with anything: no database or Redis here)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.1")
    except OSError:
        return False


def _listening(process: psutil.Process, port: int) -> bool:
    return any(
        c.laddr.port == port and c.status == psutil.CONN_LISTEN
        for c in process.net_connections(kind="tcp")
    )


def _accepted(process: psutil.Process, port: int) -> int:
    return sum(
        1
        for c in process.net_connections(kind="tcp")
        if c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def test_connections_that_arrive_together_are_spread_over_the_processes(tmp_path):
    """The point of the module: with one shared socket, the process that woke first took
    four connections out of five; with a socket each, the kernel spreads them."""
    port = _free_port()
    web = _start(tmp_path, port, workers=2)
    clients = []
    try:
        _wait_for(lambda: _answers(port), 60, "the web server")
        servers = _spawned(psutil.Process(web.pid))
        assert len(servers) == 2
        # One answering is not both ready: each listens once it has loaded the code.
        _wait_for(lambda: all(_listening(s, port) for s in servers), 60, "both listening")
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        _wait_for(
            lambda: sum(_accepted(s, port) for s in servers) == CONNECTIONS, 10, "every accept"
        )
        counts = sorted(_accepted(s, port) for s in servers)
        # Hashed over the clients' ports: fewer than 8 of 40 on one is a chance of about 1e-5.
        assert counts[0] >= 8, counts
    finally:
        for client in clients:
            client.close()
        web.send_signal(signal.SIGTERM)
        web.communicate(timeout=30)


def test_a_process_that_dies_is_replaced_and_sigterm_stops_them_all(tmp_path):
    port = _free_port()
    web = _start(tmp_path, port, workers=2)
    try:
        _wait_for(lambda: _answers(port), 60, "the web server")
        parent = psutil.Process(web.pid)
        first, _ = _spawned(parent)
        first.kill()
        replaced = lambda: [p.pid for p in _spawned(parent)].count(first.pid) == 0  # noqa: E731
        _wait_for(lambda: replaced() and len(_spawned(parent)) == 2, 30, "a new server process")
        survivors = _spawned(parent)
        _wait_for(lambda: _answers(port), 30, "the server again")
    finally:
        web.send_signal(signal.SIGTERM)
        output, _ = web.communicate(timeout=30)
    assert web.returncode == 0, output[-2000:]
    assert "starting another" in output
    time.sleep(0.5)
    assert [p.pid for p in survivors if p.is_running() and p.status() != "zombie"] == []


def test_a_port_already_taken_is_an_error_not_a_share(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        web = _start(tmp_path, port, workers=2)
        output, _ = web.communicate(timeout=30)
    assert web.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in output
    assert "Traceback" not in output


def test_the_access_log_holds_no_query_string_nor_an_emailed_links_key(tmp_path):
    """README: logs never hold message text or secrets. A password-reset link's key lets
    its holder in; a conversation-title search (``?q=``) is what someone wrote. And the
    client it names is the connection's: X-Forwarded-For is Steward's to believe or not."""
    reset_key = "c3x7vq-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "config.web", "--port", str(port), "--workers", "1"],
        env=_embedded_env(tmp_path), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _answers(port), 60, "the web server")
        for path in (
            f"/accounts/password/reset/key/{reset_key}/",
            "/chat/?q=Jane+Roe+dismissal",
            "/accounts/login/?next=/chat/%3Fq%3DJane%2BRoe",
        ):
            # uvicorn's proxy headers are off: Steward's settings decide whom to believe.
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers={"X-Forwarded-For": "203.0.113.9"}
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except urllib.error.HTTPError:
                pass  # no database here: a 500 is logged as well as any answer
    finally:
        web.send_signal(signal.SIGTERM)
        output, _ = web.communicate(timeout=30)
    assert '"GET /accounts/password/reset/key/[key withheld]/ HTTP/1.1"' in output, output
    assert '"GET /chat/ HTTP/1.1"' in output  # the access log is on
    assert reset_key.split("-")[1] not in output
    assert "Jane" not in output
    assert "127.0.0.1:" in output and "203.0.113.9" not in output


def test_a_server_refused_at_its_start_is_not_started_again_and_again(tmp_path):
    """Under another subject index key every process is refused (the ASGI lifespan): the
    supervisor restarted them once a second, forever."""
    env = _embedded_env(tmp_path)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True, timeout=120)
    written_under_another_key = (
        "from chat.models import *; from governance.models import *; from tests.factories import"
        " make_done_answer; a = make_done_answer(User.objects.create_user('a@example.com'));"
        " SubjectMention.objects.create(digest='d', kind='EMAIL_ADDRESS',"
        " conversation=a.conversation); SubjectIndexKey.objects.update(fingerprint='other')"
    )
    subprocess.run([*manage, "shell", "-c", written_under_another_key], env=env, cwd=ROOT,
                   check=True, timeout=60)  # fmt: skip
    web = _start(tmp_path, _free_port(), workers=2)
    output, _ = web.communicate(timeout=60)
    assert web.returncode == 3, output[-2000:]
    assert "The subject index was written with another key" in output
    assert "could not start: stopping" in output and "starting another" not in output
