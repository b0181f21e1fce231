"""Database connections kept between requests, health-checked only when they sat idle.

With ``CONN_HEALTH_CHECKS``, Django checks a connection kept from an earlier
request with a ``SELECT 1`` before the request's first query: a round trip per
page, and two per API request (its governed path and its settling each run as
one call on a pool thread, :func:`api.relay.in_pool`). A connection used a
moment ago has had no time to go stale, so the check is skipped for one used
less than ``CHECK_AFTER_IDLE_SECONDS`` ago; one idle for longer is checked as
before. A connection that failed during a request is still checked, or closed,
at its end (Django's ``errors_occurred``), so a broken one is not handed on.

Pages go through :class:`KeptConnectionsMiddleware`; it runs after Django's own
start-of-request check (the ``request_started`` signal), whatever the order of
that signal's receivers.
"""

import time

from django.db import connections

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
