"""Commits that need not wait for the disk, for status marks (PostgreSQL).

A commit waits until its WAL record is on disk (``synchronous_commit``): half a
millisecond here, a few at the 99th percentile under load. For a mark whose loss
in a database crash costs nothing, because the state before it is one the
sweeper already handles (an answer marked queued, claimed by a worker), the wait
buys nothing, and it lay on the way of every message and of its first token.
:func:`unawaited` writes such an update: a common table expression it joins turns
the wait off for the statement's own transaction. The WAL stays in order: any later commit
that waits flushes this one too, so a crash can lose only the newest marks,
never one that a kept change came after.

Only for a statement that is its own transaction: inside ``transaction.atomic``
it would relax the whole transaction, audit events and all (:func:`may_skip_wait`).
"""

from django.db import connection

_RELAXED = "unawaited AS (SELECT set_config('synchronous_commit', 'off', true))"


def unawaited(update: str, where: str) -> str:
    """``update`` (``UPDATE <table> SET …``) with its ``where`` (``WHERE …``), as a statement
    whose own transaction commits without waiting for the disk (PostgreSQL; a statement of
    its own only, see :func:`may_skip_wait`)."""
    return f"WITH {_RELAXED} {update} FROM unawaited {where}"


def may_skip_wait() -> bool:
    """Whether a statement sent now is its own transaction on PostgreSQL."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block
