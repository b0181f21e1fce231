"""Start every Steward process on this machine in the foreground; Ctrl-C stops them all."""

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from config import embedded_redis

STOP_GRACE_SECONDS = 10


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
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-workers", action="store_true", help="web server only")

    def handle(self, *args, host: str, port: int, no_workers: bool, **options) -> None:
        self._stopping = False
        self._data_dir_lock = self._lock_data_dir()  # held while this process lives
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
            self._announce(host, port, children)
            exit_code = self._watch(children)
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
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        lock = open(settings.DATA_DIR / "serve.lock", "w")  # held until this process ends
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise self._in_use("") from None
        return lock

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
            # waiting for it (chat.llm_builtin), as its generation takes the cores.
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

    def _announce(self, host: str, port: int, children: list[Child]) -> None:
        url = f"http://{host}:{port}/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self._stopping:
            try:
                with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
            if any(c.process.poll() is not None for c in children):
                return
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

    def _watch(self, children: list[Child]) -> int:
        while not self._stopping:
            for child in children:
                code = child.process.poll()
                if code is not None:
                    self.stderr.write(f"{child.name} exited with code {code}; stopping everything")
                    return code or 1
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
