"""Statements bound and prepared on the server (config.prepared), on PostgreSQL."""

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from config.prepared import numbered, prepared_cursor

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]

STATEMENT = "SELECT %s::bigint + 1, %s::text"


def _prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_is_prepared_once_per_connection_and_bound_each_time():
    results = []
    for number in (1, 41):
        with prepared_cursor() as cursor:
            cursor.execute(STATEMENT, [number, "it's"])
            results.append(cursor.fetchone())
    assert results == [(2, "it's"), (42, "it's")]
    assert _prepared_here() == ["SELECT $1::bigint + 1, $2::text"]


def test_its_errors_are_djangos():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE taken (id bigint PRIMARY KEY)")
    with prepared_cursor() as cursor:
        cursor.execute("INSERT INTO taken VALUES (%s)", [1])
        with pytest.raises(IntegrityError):
            cursor.execute("INSERT INTO taken VALUES (%s)", [1])


def test_its_statements_are_logged_like_djangos():
    with CaptureQueriesContext(connection) as captured, prepared_cursor() as cursor:
        cursor.execute(STATEMENT, [1, "x"])
    assert [query["sql"] for query in captured] == [STATEMENT]


def test_placeholders_become_postgresqls_own():
    sql = "SELECT %s WHERE name LIKE 'a%%' AND id = %s"
    assert numbered(sql) == "SELECT $1 WHERE name LIKE 'a%' AND id = $2"


def test_the_reads_every_request_makes_are_prepared(member):
    from governance.access import _USER
    from governance.policy_cache import read_version

    for _ in range(2):
        read_version(member.pk)
        (found,) = _USER.one([member.pk])
    assert found == member
    prepared = _prepared_here()
    assert sum(text.startswith("SELECT v.token") for text in prepared) == 1
    assert sum(text.endswith("WHERE u.id = $1") for text in prepared) == 1
