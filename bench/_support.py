"""What the benchmarks that build their own world share (not a benchmark: `make bench` skips it).

Nothing here runs on import: the scripts set up their environment (data directory,
database, settings) before Django loads, each its own way.
"""

import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit


def option(name: str, default: str) -> str:
    """The value after ``name`` on the command line (``--workers 2``), else ``default``."""
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def python_speed() -> str:
    """How fast this machine runs plain Python now: ms for a fixed loop (best of five).

    The speed goals are wall times "on this machine", and the machines differ: the
    same code's ``send_message`` took 2.7 ms of CPU on one and 7 ms on another. This
    line, printed with the figures, says what kind of machine and moment they came
    from, so that runs on different days can be compared.
    """
    best = math.inf
    for _ in range(5):
        began = time.perf_counter()
        total = 0
        for number in range(1_000_000):
            total += number & 7
        best = min(best, time.perf_counter() - began)
    return f"python loop: {best * 1000:.0f} ms (best of 5; lower is faster)"


def database_url(url: str, name: str) -> str:
    """``url`` with its database name replaced."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def refuse_if_in_use(source_url: str, name: str) -> None:
    """End the run with a message if the PostgreSQL database ``name`` has sessions: another
    run of the same benchmark builds its world there (this run's start would drop it, and
    either run's end the other's). A database left by a run that was killed has none."""
    import psycopg

    with psycopg.connect(database_url(source_url, "postgres"), autocommit=True) as conn:
        (sessions,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
        ).fetchone()
    if sessions:
        raise SystemExit(
            f"Another run is using the database {name} ({sessions} sessions): "
            "wait for it to end, or stop it, then start this one again."
        )


def reset_database(source_url: str, name: str, *, create: bool) -> None:
    """Drop the PostgreSQL database ``name`` next to the one ``source_url`` names (closing
    this process's connections first), and create it afresh when asked."""
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(database_url(source_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def messages(
    rng: random.Random,
    count: int,
    phrases: Sequence[str],
    identifiers: Callable[[random.Random], list[str]],
    size: int = 2_048,
) -> list[str]:
    """~``size`` characters of business prose each, with ``identifiers(rng)`` in brackets."""
    out = []
    for _ in range(count):
        found = identifiers(rng)
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < size - 120:
            parts.append(rng.choice(phrases))
        for identifier in found:
            parts.insert(rng.randrange(len(parts) + 1), f"({identifier})")
        out.append(" ".join(parts))
    return out


def rank(samples: list[float], q: float) -> float:
    """The ``q`` quantile by rank (nan for no samples)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None):
    """Until ``predicate()`` holds; RuntimeError after ``timeout`` s, or once ``process``
    (what should make it hold) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


_FAKE = """
import socketserver, sys, time
sys.path.insert(0, {root!r})
# Each chunk is its own write: without this, Nagle and delayed ACKs add ~40 ms to every answer.
socketserver.StreamRequestHandler.disable_nagle_algorithm = True
from tests.fakes import llm_servers
llm_servers._QuietServer.request_queue_size = 256  # 50 clients connect at once
fake = llm_servers.FakeLLM({kind!r}, reply={reply!r}, delay={delay!r})
print(fake.url, flush=True)
while True:
    time.sleep(3600)
"""


def start_fake(root, kind: str, reply: list[str], delay: float = 0.0):
    """A fake backend (``tests.fakes.llm_servers``) in a process of its own, so that its
    work is neither Steward's nor this script's: (the process, its base URL)."""
    script = _FAKE.format(root=str(root), kind=kind, reply=reply, delay=delay)
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True
    )
    return process, process.stdout.readline().decode().strip()


def stop(process: subprocess.Popen | None) -> None:
    """Stop a subprocess started in its own process group, and what it forked."""
    if process is None or process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def chained_events(rows, prev: str):
    """Audit events made of ``rows`` (every field but the chain's), each linked to the one
    before as the trail links them (``prev``: the hash of the event before the first)."""
    from audit import chain
    from audit.models import AuditEvent

    for row in rows:
        fields = {name: None for name in chain.CHAINED_FIELDS}
        fields.update(row)
        digest = chain.link_hash(prev, fields)
        fields.pop("actor_id")
        yield AuditEvent(**fields, prev_hash=prev, hash=digest)
        prev = digest


def bulk_append(events) -> None:
    """Save ``events`` 5,000 at a time."""
    from itertools import islice

    from audit.models import AuditEvent

    events = iter(events)
    while batch := list(islice(events, 5_000)):
        AuditEvent.objects.bulk_create(batch)
