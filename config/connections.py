"""Database connections kept between requests, health-checked only when they sat idle.

With ``CONN_HEALTH_CHECKS``, Django checks a connection kept from an earlier
request with a ``SELECT 1`` before the request's first query: a round trip per
page, and two per API request (its governed path and its settling each run as
one call on a database thread, :func:`in_database_thread`). A connection used a
moment ago has had no time to go stale, so the check is skipped for one used
less than ``CHECK_AFTER_IDLE_SECONDS`` ago; one idle for longer is checked as
before. A connection that failed during a request is still checked, or closed,
at its end (Django's ``errors_occurred``), so a broken one is not handed on.

Pages go through :class:`KeptConnectionsMiddleware`; it runs after Django's own
start-of-request check (the ``request_started`` signal), whatever the order of
that signal's receivers. Async views (the API, the chat's send-and-stream) run
their database work with :func:`in_database_thread`, which does the same around it.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import wraps

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections

CHECK_AFTER_IDLE_SECONDS = 5.0


def skip_check_if_recent() -> None:
    """At a request's start, after Django's ``close_old_connections``."""
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        used = getattr(connection, "steward_used_at", None)
        if (
            connection.connection is not None
            and used is not None
            and now - used < CHECK_AFTER_IDLE_SECONDS
        ):
            connection.health_check_done = True


def mark_used() -> None:
    """At a request's end: what is still open was usable a moment ago (one that breaks
    meanwhile is closed by Django's end-of-request check, or found by the next one's)."""
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            connection.steward_used_at = now


class KeptConnectionsMiddleware:
    """:func:`skip_check_if_recent` before a page's view, :func:`mark_used` after it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        skip_check_if_recent()
        try:
            return self.get_response(request)
        finally:
            mark_used()


#: Threads for the database work of async views (govern and store, settle, list models),
#: each keeping its connection. Few: the work is CPU under one GIL, so more threads only
#: slice it finer. Fifty API requests at once on six threads (asyncio's default) each took
#: their turn six times slower, and in no order, so that some waited a second; on three
#: they go nearly in arrival order (bench/api.py, 50 clients: added p95 +530–650 →
#: +360–400 ms).
DATABASE_THREADS = 3


def _database_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=DATABASE_THREADS, thread_name_prefix="database")


_database_pool = _database_threads()


def restart_database_threads() -> None:
    """Close the database threads' connections, stop the threads and start anew (for tests:
    a test's database must not outlive it in a kept connection)."""
    global _database_pool
    stopped, _database_pool = _database_pool, _database_threads()
    every_thread = threading.Barrier(DATABASE_THREADS)  # each thread takes one of these

    def close_connections() -> None:
        every_thread.wait(timeout=10)
        connections.close_all()

    for _ in range(DATABASE_THREADS):
        stopped.submit(close_connections)
    stopped.shutdown(wait=True)


def in_database_thread(function):
    """``function`` as a coroutine run on one of the database threads, between the checks
    Django makes around a request: before, a health check of a connection that sat idle
    (:func:`skip_check_if_recent`); after, close it if it broke or grew too old.

    The threads are reused, so their database connections are too (``CONN_MAX_AGE``);
    Django's per-request thread would open a new one each time.
    """

    @wraps(function)
    def checked(*args, **kwargs):
        skip_check_if_recent()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()
            mark_used()

    return sync_to_async(checked, thread_sensitive=False, executor=_database_pool)
