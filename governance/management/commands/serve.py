"""Start every Steward process on this machine in the foreground; Ctrl-C stops them all."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from config import embedded_redis
from config.env import open_to_others, port_number, private_directory

STOP_GRACE_SECONDS = 10
#: How long ``serve`` waits for /healthz to answer 200 before saying Steward is not ready.
READY_SECONDS = 60
#: How often /healthz is asked again while Steward is not ready.
READY_PROBE_SECONDS = 5


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None


class Command(BaseCommand):
    help = (
        "Run the web server (uvicorn), Celery workers and Celery beat, plus the embedded "
        "Redis when REDIS_URL is unset. Ctrl-C stops every process it started."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="the address the web server listens on (default 127.0.0.1, this machine only; "
            "0.0.0.0 for every interface)",
        )
        parser.add_argument(
            "--port",
            type=port_number,
            default=settings.PORT,
            help=f"the web server's port (default: the PORT variable, now {settings.PORT})",
        )
        parser.add_argument("--no-workers", action="store_true", help="web server only")
        parser.add_argument(
            "--ready-seconds",
            type=float,
            default=READY_SECONDS,
            help="how long to wait for /healthz to answer 200 before saying Steward is not "
            f"ready yet (default {READY_SECONDS})",
        )

    def handle(
        self, *args, host: str, port: int, no_workers: bool, ready_seconds: float, **options
    ) -> None:
        # Line by line, as said: to a log file or a service manager's pipe, Python buffered
        # "Steward is running at …" until serve stopped (unless PYTHONUNBUFFERED was set).
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)
        self._stopping = False
        self._said = None  # what /healthz answered, as last said here while not ready
        self._data_dir_lock = self._lock_data_dir()  # held while this process lives
        self._warn_if_data_dir_is_open()
        # Incremental and quick: the manifest must match this checkout's static files.
        call_command("collectstatic", interactive=False, verbosity=0)
        redis_server = None
        if settings.EMBEDDED_REDIS:
            socket_path = Path(settings.REDIS_URL.removeprefix("unix://"))
            try:
                redis_server = embedded_redis.start(socket_path, on_orphan=self._orphan_found)
            except embedded_redis.AlreadyRunning as exc:
                raise self._in_use(f" ({exc})") from None
            self.stdout.write(f"embedded Redis on {socket_path}")
        children = self._children(host, port, no_workers)
        previous = {
            sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        exit_code = 0
        try:
            for child in children:
                # Own process group: we decide when children stop, and killpg
                # also reaches the pool processes a Celery worker forks.
                child.process = subprocess.Popen(
                    child.argv, start_new_session=True, preexec_fn=_end_with_parent
                )
            ready = self._announce(host, port, children, ready_seconds)
            exit_code = self._watch(children, None if ready else f"http://{host}:{port}/")
        finally:
            self._stop_all(children)
            if redis_server is not None:
                embedded_redis.stop(redis_server)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Steward stopped.")
        if exit_code:
            raise CommandError(f"a Steward process exited unexpectedly (code {exit_code})")

    def _lock_data_dir(self):
        """An exclusive lock on the data directory, or refusal: a second Steward on it
        would start a second beat and workers on the same database (with the embedded
        Redis, it would also take the first one's socket). The kernel drops the lock
        when this process ends, however it ends."""
        private_directory(settings.DATA_DIR)
        lock = open(settings.DATA_DIR / "serve.lock", "w")  # held until this process ends
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise self._in_use("") from None
        return lock

    def _warn_if_data_dir_is_open(self) -> None:
        if open_to_others(settings.DATA_DIR):
            mode = settings.DATA_DIR.stat().st_mode & 0o777
            self.stderr.write(
                f"Warning: other users of this machine can open the data directory "
                f"{settings.DATA_DIR} (mode {mode:o}), which holds the database and, in "
                f"embedded mode, the keys: chmod 700 {settings.DATA_DIR}"
            )

    def _orphan_found(self, pid: int) -> None:
        self.stdout.write(
            f"An embedded Redis (pid {pid}) was still running, left by a Steward that did "
            "not stop cleanly: saving it and starting it again (queued work is kept)."
        )

    def _in_use(self, detail: str) -> CommandError:
        return CommandError(
            f"Steward already runs with this data directory (STEWARD_DATA_DIR="
            f"{settings.DATA_DIR}): stop it first or use another directory{detail}"
        )

    def _children(self, host: str, port: int, no_workers: bool) -> list[Child]:
        python = sys.executable
        web = Child(
            "web",
            [
                python,
                "-m",
                "config.web",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(settings.STEWARD_WEB_WORKERS),
            ],
        )
        if no_workers:
            return [web]
        # Their logging is settings.LOGGING at LOG_LEVEL (config.celery), not Celery's -l.
        celery = [python, "-m", "celery", "--quiet", "-A", "config"]
        return [
            web,
            # A few local answers at once: an on-premise Ollama answers several (and queues
            # the rest itself); the built-in model answers one at a time, the others
            # waiting for it (chat.llm.builtin), as its generation takes the cores.
            Child(
                "worker-local",
                [
                    *celery,
                    "worker",
                    "-Q",
                    "inference_local",
                    "-P",
                    "threads",
                    "-c",
                    str(settings.STEWARD_LOCAL_WORKER_THREADS),
                    "-n",
                    "local@%h",
                ],
            ),
            # Answers from external backends wait on the network, not the cores: threads
            # answer many at once (two pool processes answered two, and the third author
            # waited for one of them to finish).
            Child(
                "worker",
                [
                    *celery,
                    "worker",
                    "-Q",
                    "inference_external,maintenance",
                    "-P",
                    "threads",
                    "-c",
                    str(settings.STEWARD_WORKER_THREADS),
                    "-n",
                    "main@%h",
                ],
            ),
            Child("beat", [*celery, "beat", "--pidfile="]),
        ]

    def _request_stop(self, signum, frame) -> None:
        self._stopping = True

    def _announce(self, host: str, port: int, children: list[Child], ready_seconds: float) -> bool:
        """Wait for /healthz to answer 200, then say where Steward runs (and the demo's
        sign-ins); whether it did. Not ready by the deadline, it says what /healthz answered
        and that it keeps waiting: everything keeps running, and the web server answers as
        soon as what it lacks (Redis, the database) is back, which :meth:`_watch` announces.
        Stopping instead would make a Redis that starts a little later than Steward (at a
        machine's boot) stop Steward too."""
        url = f"http://{host}:{port}/"
        deadline = time.monotonic() + ready_seconds
        answer = "does not answer"
        while time.monotonic() < deadline and not self._stopping:
            answer = _health(url)
            if answer is None:
                self._running(url, children)
                return True
            if any(c.process.poll() is not None for c in children):
                return False
            time.sleep(0.3)
        if not self._stopping:
            self._said = answer
            self.stdout.write(
                self.style.WARNING(
                    f"\nSteward is not ready yet: {url}healthz {answer}. It keeps running, "
                    "and says so here when that changes. Press Ctrl-C to stop."
                )
            )
        return False

    def _running(self, url: str, children: list[Child]) -> None:
        from governance.demo import DEMO_PASSWORD, DEMO_USERS
        from governance.models import User

        names = ", ".join(c.name for c in children)
        self.stdout.write(self.style.SUCCESS(f"\nSteward is running at {url}  ({names})"))
        try:
            present = set(
                User.objects.filter(email__in=[u[0] for u in DEMO_USERS]).values_list(
                    "email", flat=True
                )
            )
        except DatabaseError:  # not migrated: the traceback stopped every process it started
            self.stdout.write(
                "The database has no tables yet: run `manage.py migrate` (make run does)."
            )
            present = set()
        if present:
            self.stdout.write(f"Demo sign-ins (password: {DEMO_PASSWORD} unless changed):")
            for email, _, roles in DEMO_USERS:
                if email in present:
                    self.stdout.write(f"  {email:<22} {', '.join(r.label for r in roles)}")
        self.stdout.write("Press Ctrl-C to stop.\n")

    def _watch(self, children: list[Child], waiting_url: str | None) -> int:
        """Until Ctrl-C or a child's exit; ``waiting_url``: Steward's, while it is not ready
        (asked every few seconds, and announced once /healthz answers 200)."""
        next_probe = time.monotonic()
        while not self._stopping:
            for child in children:
                code = child.process.poll()
                if code is not None:
                    self.stderr.write(f"{child.name} exited with code {code}; stopping everything")
                    return code or 1
            if waiting_url and time.monotonic() >= next_probe:
                answer = _health(waiting_url)
                if answer is None:
                    self._running(waiting_url, children)
                    waiting_url = None
                elif answer != self._said:
                    self._said = answer
                    self.stdout.write(f"Steward is still not ready: {waiting_url}healthz {answer}.")
                next_probe = time.monotonic() + READY_PROBE_SECONDS
            time.sleep(0.3)
        return 0

    def _stop_all(self, children: list[Child]) -> None:
        running = [c for c in children if c.process and c.process.poll() is None]
        for child in running:
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(
                    f"{child.name} did not stop in {STOP_GRACE_SECONDS} s; killing it"
                )
        # Whatever is left in the groups (stragglers, forked pool processes) goes now.
        for child in children:
            if child.process:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()


def _health(url: str) -> str | None:
    """None when ``url``'s /healthz answers 200; else what it did, in words for the terminal
    ("answered 503 (redis: error)", "does not answer")."""
    try:
        with urllib.request.urlopen(url + "healthz", timeout=2) as response:
            if response.status == 200:
                return None
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except OSError:
        return "does not answer"
    try:
        parts = json.loads(body)
    except ValueError:
        return f"answered {status}"
    parts.pop("status", None)
    failing = [f"{name}: {value}" for name, value in parts.items() if value != "ok"]
    return f"answered {status} ({', '.join(failing)})" if failing else f"answered {status}"


def _end_with_parent() -> None:
    """In the child, before it runs: SIGTERM when ``serve`` dies, however it dies. Each child
    has a session of its own (so Ctrl-C reaches it through us only); killed with ``kill -9``,
    ``serve`` left the web server, workers and beat running, and a second ``serve`` (with an
    external Redis) would have started a second beat beside them. Linux only."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
