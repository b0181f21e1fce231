"""The policy as each process caches it, and the version that says when to read it again.

Every message needs the policy (categories, backends with their approvals, who is
cleared for what) and the compiled detection rules, and asks which groups grant
which role and which policy document is current. Instead of reading them for
each message, a process keeps them under a version key it reads once per call
(one query, which also brings the sender's groups).

The key comes from one row, :class:`~governance.models.PolicyVersion`, whose token
database triggers change on every write to a policy table, whatever made it: a
service, policy import, ``QuerySet.update()``, ``bulk_create()``, raw SQL. Web and
Celery processes each see a committed change from their next read.

On PostgreSQL the triggers work in two steps:

1. Every statement that writes a policy table sets a fresh transaction-local mark
   (a setting: no lock). The mark is part of the key, so a transaction's own
   reads see its uncommitted changes, and what they cache never matches a read
   made outside that transaction.
2. A trigger deferred to commit gives the row a new token. Taking the row lock
   only at commit, after every other lock, keeps it out of deadlocks: services
   record the audit event (which takes the audit lock) before some writes and
   after others, so a lock taken at the first write could wait in a cycle.

SQLite has one writer at a time, so its triggers change the token at once.
Tokens are random rather than counted: a rolled-back change would hand its
number out again, and a snapshot cached under it would match.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connection, connections

from config.prepared import hot_cursor
from governance.models import (
    Approval,
    Backend,
    Category,
    Clearance,
    DetectionRule,
    PolicyVersion,
    ProtectedTermList,
    User,
)

#: Every table the policy snapshot or the detectors are read from.
POLICY_MODELS = (Category, Backend, Approval, Clearance, DetectionRule, ProtectedTermList)
#: What else every message checks, cached the same way: which groups grant which role
#: (governance.access.holds) and the current policy document (training.services).
ALSO_WATCHED = ("auth.Group_permissions", "training.PolicyDocument")

_VERSION = PolicyVersion._meta.db_table
_MEMBERS = User.groups.through._meta.db_table
_OWN_PERMISSIONS = User.user_permissions.through._meta.db_table
_MARK = "governance.policy_change"
_MARK_SQL = {
    "postgresql": f"coalesce(current_setting('{_MARK}', true), '')",
    "sqlite": "''",
}


@dataclass(frozen=True)
class Version:
    """What one read of the version row found."""

    #: The cache key: (token, this transaction's mark); None if it cannot be trusted.
    key: tuple[int, str] | None
    #: The user's group ids (empty without a user).
    group_ids: frozenset[int]
    #: Whether the user holds any permission of their own (not through a group): if not,
    #: only their groups (or being a superuser) can give them a role (governance.access.holds).
    own_permissions: bool = True


def read_version(user_id: int | None = None) -> Version:
    """The current version key, ``user_id``'s groups and whether they hold any permission of
    their own, in one query."""
    mark = _MARK_SQL.get(connection.vendor)
    if mark is None:  # no triggers on this database: never trust a cached snapshot
        return Version(key=None, group_ids=_groups_of(user_id))
    with hot_cursor() as cursor:
        cursor.execute(
            f"SELECT v.token, {mark}, m.group_id, "
            f"EXISTS (SELECT 1 FROM {_OWN_PERMISSIONS} p WHERE p.user_id = %s) "
            f"FROM {_VERSION} v LEFT JOIN {_MEMBERS} m ON m.user_id = %s WHERE v.id = 1",
            [user_id, user_id],
        )
        rows = cursor.fetchall()
    if not rows:  # the row is gone (a test suite emptied the tables): read uncached
        return Version(key=None, group_ids=_groups_of(user_id))
    token, mark_value, _, own_permissions = rows[0]
    return Version(
        key=(token, mark_value),
        group_ids=frozenset(group for _, _, group, _ in rows if group is not None),
        own_permissions=bool(own_permissions),
    )


def version_columns() -> str:
    """The version key as two columns (token, mark), for a statement that reads it beside
    what it is for: one round trip instead of two. :func:`version_of` reads them."""
    mark = _MARK_SQL.get(connection.vendor)
    if mark is None:
        return "NULL, NULL"
    return f"(SELECT v.token FROM {_VERSION} v WHERE v.id = 1), {mark}"


def version_of(token: int | None, mark: str | None) -> Version:
    """The :class:`Version` (without a user) that :func:`version_columns` read."""
    key = None if token is None else (token, mark)
    return Version(key=key, group_ids=frozenset(), own_permissions=False)


def user_version_columns(user_id_column: str) -> str:
    """:func:`version_columns`, then the groups of the user whose id ``user_id_column`` names
    and whether they hold a permission of their own: what :func:`read_version` reads, as
    four columns of a statement that reads the user anyway. :func:`user_version_of` reads
    them."""
    members = f"SELECT m.group_id FROM {_MEMBERS} m WHERE m.user_id = {user_id_column}"
    if connection.vendor == "postgresql":
        groups = f"ARRAY({members})"
    else:
        groups = f"(SELECT group_concat(g.group_id) FROM ({members}) g)"
    own = f"EXISTS (SELECT 1 FROM {_OWN_PERMISSIONS} p WHERE p.user_id = {user_id_column})"
    return f"{version_columns()}, {groups}, {own}"


def user_version_of(token: int | None, mark: str | None, groups, own_permissions) -> Version:
    """The :class:`Version` that :func:`user_version_columns` read (as :func:`read_version`
    would have)."""
    if isinstance(groups, str):  # SQLite's "1,2"
        groups = [int(group) for group in groups.split(",")]
    group_ids = frozenset(groups or ())
    if token is None:  # no version row, or no triggers on this database: never cached
        return Version(key=None, group_ids=group_ids)
    return Version(key=(token, mark), group_ids=group_ids, own_permissions=bool(own_permissions))


def _groups_of(user_id: int | None) -> frozenset[int]:
    if user_id is None:
        return frozenset()
    through = User.groups.through.objects.filter(user_id=user_id)
    return frozenset(through.values_list("group_id", flat=True))


T = TypeVar("T")
_cache: dict[str, tuple[tuple[int, str], object]] = {}
_lock = threading.Lock()


def cached(name: str, version: Version, build: Callable[[], T]) -> T:
    """``build()``'s value as of ``version``, built once per version per process.

    The value is shared between threads, so it must be immutable.
    """
    if version.key is None:
        return build()
    hit = _cache.get(name)
    if hit is not None and hit[0] == version.key:
        return hit[1]  # type: ignore[return-value]
    with _lock:  # one thread builds; the others wait for its value
        hit = _cache.get(name)
        if hit is not None and hit[0] == version.key:
            return hit[1]  # type: ignore[return-value]
        value = build()
        _cache[name] = (version.key, value)
        return value


def forget() -> None:
    """Drop every cached value (tests that compare with a fresh reading use this)."""
    with _lock:
        _cache.clear()


# --- The triggers --------------------------------------------------------------------------

_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION governance_policy_changing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('{_MARK}', gen_random_uuid()::text, true);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION governance_policy_committing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- once per mark, however many rows were written under it
    IF current_setting('governance.policy_bumped', true)
            IS DISTINCT FROM current_setting('{_MARK}', true) THEN
        PERFORM set_config('governance.policy_bumped', current_setting('{_MARK}', true), true);
        INSERT INTO {_VERSION} (id, token) VALUES (1, (random() * 9e18)::bigint)
            ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION governance_policy_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {_VERSION} (id, token) VALUES (1, (random() * 9e18)::bigint)
        ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    RETURN NULL;
END;
$$;
"""

_PG_TRIGGERS = {
    "governance_policy_changing": "CREATE TRIGGER governance_policy_changing "
    "AFTER INSERT OR UPDATE OR DELETE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION governance_policy_changing()",
    "governance_policy_committing": "CREATE CONSTRAINT TRIGGER governance_policy_committing "
    "AFTER INSERT OR UPDATE OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
    "FOR EACH ROW EXECUTE FUNCTION governance_policy_committing()",
    "governance_policy_truncated": "CREATE TRIGGER governance_policy_truncated "
    "AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION governance_policy_truncated()",
}

_SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS {table}_policy_{name} AFTER {event} ON {table}
BEGIN
    INSERT INTO {version} (id, token) VALUES (1, random())
        ON CONFLICT (id) DO UPDATE SET token = excluded.token;
END
"""


def ensure_triggers(using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the version row and the triggers that change it, where missing (idempotent).

    Runs after every ``migrate``: SQLite rebuilds a table to alter it, and the
    rebuild drops the table's triggers.
    """
    db = connections[using]
    existing = set(db.introspection.table_names())
    if db.vendor not in _MARK_SQL or _VERSION not in existing:
        return
    models = [*POLICY_MODELS, *(apps.get_model(label) for label in ALSO_WATCHED)]
    tables = [model._meta.db_table for model in models if model._meta.db_table in existing]
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute(_PG_FUNCTIONS)
            cursor.execute(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = ANY(%s)",
                [list(_PG_TRIGGERS)],
            )
            present = set(cursor.fetchall())
            for table in tables:
                for name, sql in _PG_TRIGGERS.items():
                    if (table, name) not in present:
                        cursor.execute(sql.format(table=table))
            cursor.execute(
                f"INSERT INTO {_VERSION} (id, token) VALUES (1, (random() * 9e18)::bigint) "
                "ON CONFLICT (id) DO NOTHING"
            )
        else:
            for table in tables:
                for event in ("INSERT", "UPDATE", "DELETE"):
                    sql = _SQLITE_TRIGGER.format(
                        table=table, name=event.lower(), event=event, version=_VERSION
                    )
                    cursor.execute(sql)
            cursor.execute(
                f"INSERT INTO {_VERSION} (id, token) VALUES (1, random()) "
                "ON CONFLICT (id) DO NOTHING"
            )
