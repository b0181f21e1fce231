"""Kept database connections are health-checked when they sat idle, not before every call."""

from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, connections

from config import connections as kept

pytestmark = pytest.mark.django_db(transaction=True)


def _query():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
    return connection.connection


def _calls(*functions, between=lambda: None) -> list:
    """Each function called in turn on one event loop's pool, as the API calls them (so
    on one kept thread and connection), ``between`` before each but the first; what they
    returned, or raised."""

    async def in_turn():
        results = []
        for index, function in enumerate(functions):
            if index:
                between()
            try:
                results.append(await kept.in_database_thread(function)())
            except Exception as exc:  # noqa: BLE001  (the test looks at it)
                results.append(exc)
        await kept.in_database_thread(connections.close_all)()
        return results

    return async_to_sync(in_turn, force_new_loop=True)()


only_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's connections are not kept"
)


@only_postgresql
def test_a_connection_used_a_moment_ago_is_not_checked_again(checks):
    used = _calls(*[_query] * 6)
    assert len(set(map(id, used))) < len(used)  # kept connections were used again
    assert checks == []


@only_postgresql
def test_a_connection_that_sat_idle_is_checked_before_use(checks, monkeypatch):
    clock = [kept.time.monotonic()]
    monkeypatch.setattr(kept.time, "monotonic", lambda: clock[0])

    def idle_for_a_while():
        clock[0] += kept.CHECK_AFTER_IDLE_SECONDS + 1

    used = _calls(*[_query] * 4, between=idle_for_a_while)
    assert len(set(map(id, used))) < len(used)
    assert checks == ["default"] * (len(used) - len(set(map(id, used))))  # each one kept


@only_postgresql
def test_a_connection_that_failed_is_checked_when_the_call_ends(checks):
    def failing():
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column")

    failed, after = _calls(failing, _query)
    assert "no_such_column" in str(failed)
    assert checks == ["default"]  # at the failed call's end; not again before the next


class _Task:
    """What the worker's signals and fixup read of a task: it was not run eagerly."""

    request = SimpleNamespace(is_eager=False)


def _run_as_a_worker(function):
    """``function`` between what a Celery worker does before and after each task."""
    from celery import signals
    from celery.fixups.django import DjangoWorkerFixup

    from config.celery import app

    fixup, task = DjangoWorkerFixup(app), _Task()  # as a worker sets it up
    fixup.on_task_prerun(sender=task)
    signals.task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
    try:
        return function()
    finally:
        fixup.on_task_postrun(sender=task)
        signals.task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={})


@only_postgresql
def test_a_worker_keeps_its_database_connection_from_task_to_task():
    # Celery's Django fixup closed it around every task: each answer connected anew.
    opened = [_run_as_a_worker(_query) for _ in range(3)]
    assert opened[0] is not None and opened == [opened[0]] * 3


@only_postgresql
def test_a_worker_closes_a_connection_that_broke_in_a_task():
    first = _run_as_a_worker(_query)
    first.close()  # the server went away during the task
    connection.errors_occurred = True
    _run_as_a_worker(lambda: None)
    assert connection.connection is None  # closed after the task; the next one connects anew
    assert _run_as_a_worker(_query) is not first
