"""The web server: uvicorn in as many processes as asked, each on a listening socket of its own.

``python -m config.web --host H --port P --workers N [--no-access-log]``

The access log (uvicorn's, one line per request on stdout) names each path without
its query string and with the key of an emailed sign-in link masked (:func:`loggable_path`).

uvicorn's own reading of ``X-Forwarded-For`` / ``X-Forwarded-Proto`` is off: it believed
them from any loopback peer, proxy or not, and from no other. Django reads them by
Steward's settings instead (``STEWARD_BEHIND_TLS_PROXY``, ``STEWARD_TRUSTED_PROXY_COUNT``),
so a request's client is the connection's peer unless Steward is behind the proxy.

uvicorn's own ``--workers`` share one listening socket, and the process that
wakes first accepts every connection waiting: fifty API clients that connect
together land four to one on one process, whose answers then take twice as
long (measured with ``bench/api.py``). Here each process binds its own socket
with ``SO_REUSEPORT`` and the kernel spreads new connections across them. The
parent restarts a process that dies and stops them all on SIGINT or SIGTERM.
"""

import argparse
import copy
import logging
import re
import signal
import socket
import subprocess
import sys
import time

from config.env import port_number
from config.startup import settings_or_exit

APP = "config.asgi:application"
#: Before a process that died is started again (a crash at start must not spin).
RESTART_PAUSE_SECONDS = 1.0
STOP_GRACE_SECONDS = 10
#: uvicorn's exit status when the application refused to start (its lifespan startup failed).
STARTUP_FAILURE = 3

logger = logging.getLogger("steward.web")

#: An emailed link whose last part is a key that lets its holder in (allauth's password
#: reset and address confirmation).
_KEYED_LINK = re.compile(r"^(/accounts/(?:password/reset/key|confirm-email)/)(?!done/)[^/]+")


def loggable_path(path: str) -> str:
    """``path`` as a log line may hold it: without its query string (a conversation-title
    search, a single sign-on's code) and without an emailed link's key."""
    return _KEYED_LINK.sub(r"\1[key withheld]", path.partition("?")[0])


class LoggablePaths(logging.Filter):
    """A log line's paths through :func:`loggable_path`: uvicorn's access line, Django's
    "Not Found: /…" and "Internal Server Error: /…"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                loggable_path(arg) if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


def _log_config() -> dict:
    """uvicorn's own logging, its access lines through :class:`LoggablePaths`."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"loggable_paths": {"()": LoggablePaths}}
    config["handlers"]["access"]["filters"] = ["loggable_paths"]
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m config.web", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_number, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--shared-port", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    # Here, not in uvicorn's import of the application (in each process, a traceback each).
    settings_or_exit()
    if options.workers > 1:
        sys.exit(supervise(options))
    access_log = not options.no_access_log
    serve(options.host, options.port, shared=options.shared_port, access_log=access_log)


def serve(host: str, port: int, *, shared: bool, access_log: bool) -> None:
    """One uvicorn server in this process, on its own socket (``shared``: with SO_REUSEPORT)."""
    import uvicorn

    config = uvicorn.Config(
        APP,
        host=host,
        port=port,
        lifespan="on",
        server_header=False,
        access_log=access_log,
        log_config=_log_config(),
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[listening_socket(host, port, shared=shared)])


def listening_socket(host: str, port: int, *, shared: bool) -> socket.socket:
    """A socket bound to ``host:port``; if it cannot be, the process ends with the reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:  # the port is taken, or the address is not this machine's
        sock.close()
        sys.exit(f"config.web: cannot listen on {host}:{port}: {exc.strerror}")
    return sock


def supervise(options: argparse.Namespace) -> int:
    """Start ``options.workers`` server processes sharing the port, keep them running, and
    stop them all on SIGINT or SIGTERM."""
    # A plain bind first: another server on this port is an error, not a partner to share
    # connections with (SO_REUSEPORT would let a second Steward, or anything of this user's,
    # bind it too).
    listening_socket(options.host, options.port, shared=False).close()
    argv = [sys.executable, "-m", "config.web", "--host", options.host, "--port",
            str(options.port), "--shared-port"]  # fmt: skip
    if options.no_access_log:
        argv.append("--no-access-log")
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stopping.append(signum))
    children = [subprocess.Popen(argv) for _ in range(options.workers)]
    try:
        while not stopping:
            for index, child in enumerate(children):
                if child.poll() is not None and not stopping:
                    if child.returncode == STARTUP_FAILURE:  # another would be refused too
                        logger.error("web process %s could not start: stopping", child.pid)
                        return STARTUP_FAILURE
                    logger.warning("web process %s exited (%s): starting another", child.pid,
                                   child.returncode)  # fmt: skip
                    time.sleep(RESTART_PAUSE_SECONDS)
                    children[index] = subprocess.Popen(argv)
            time.sleep(0.2)
    finally:
        _stop(children)
    return 0


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    main()
