"""Statements bound and prepared on the server, for the hot paths' big writes (PostgreSQL).

Django's psycopg cursors bind values on the client: each one is quoted into
the statement's text, which PostgreSQL then parses and plans afresh. A chat
message's one-statement write (:class:`audit.writes.Writes`) carries about a
hundred values, 8 KB of them sealed text as hex, and its settling update about
twenty: parsing and planning that text cost PostgreSQL more than running it.
Through :func:`prepared_cursor` the values travel apart from the statement,
which each connection parses and plans once per shape (psycopg keeps the last
hundred).

A pooler in transaction mode must keep prepared statements per client
(PgBouncer 1.21+: ``max_prepared_statements``).
"""

import functools
import itertools
import re

import psycopg
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


class _Prepared:
    # Django's CursorWrapper._execute, with PostgreSQL's placeholders and psycopg's
    # ``prepare``: the one thing that differs; query logging, execute wrappers and error
    # translation stay Django's.
    def _execute(self, sql, params, *ignored_wrapper_args):
        self.db.validate_no_broken_transaction()
        with self.db.wrap_database_errors:
            return self.cursor.execute(numbered(sql), params, prepare=True)


class _Cursor(_Prepared, CursorWrapper):
    pass


class _DebugCursor(_Prepared, CursorDebugWrapper):
    def execute(self, sql, params=None):
        # Logged as written, placeholders and all: a statement bound on the server has no
        # text with its values in, which Django's logging would otherwise ask psycopg for.
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def prepared_cursor() -> CursorWrapper:
    """A cursor on the default connection (PostgreSQL) whose statements are bound on the
    server and prepared; use as ``connection.cursor()``, placeholders and all."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = psycopg.RawCursor(connection.connection)
    return (_DebugCursor if connection.queries_logged else _Cursor)(raw, connection)


def hot_cursor() -> CursorWrapper:
    """For a statement a hot path sends with every request, its SQL written once: a
    prepared cursor on PostgreSQL (parsed and planned once per connection; planning a
    join of a few tables took PostgreSQL longer than running it), Django's elsewhere."""
    return prepared_cursor() if connection.vendor == "postgresql" else connection.cursor()


@functools.lru_cache(maxsize=256)
def numbered(sql: str) -> str:
    """``sql`` with psycopg's placeholders (``%s``; ``%%`` for a percent sign) as
    PostgreSQL's own (``$1``, ``$2``…). psycopg would parse a statement for them at each
    execution, unless it is short (under 4 KB and 50 values), as ours are not."""
    position = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: f"${next(position)}" if m[1] == "s" else "%", sql)


_PLACEHOLDER = re.compile(r"%([s%])")
