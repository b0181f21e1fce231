"""Personas and shared fixtures.

``owner`` holds every role; ``member`` is plain staff; ``reader`` is an
auditor (read-only); ``outsider`` has an account and no role at all.
"""

import os

import pytest
from django.core.cache import cache
from django.db import connections
from django.db.backends.postgresql.operations import (
    DatabaseOperations as PostgreSQLOperations,
)

from config import env
from config.connections import restart_database_threads
from governance.roles import Role
from tests.factories import make_user

_execute_sql_flush = PostgreSQLOperations.execute_sql_flush


def _flush_past_the_audit_guards(self, sql_list):
    """Transactional tests empty every table between tests (one TRUNCATE), and PostgreSQL's
    audit triggers refuse that to anyone (migration audit 0007). The flush turns the
    triggers of the two audit tables off and on again around it, in its own transaction:
    they are off for nobody else and for nothing else. That takes the tables' owner, which
    the test database's user is (it created them); no superuser is needed."""
    guarded = ("audit_auditevent", "audit_auditcheckpoint")
    _execute_sql_flush(
        self,
        [
            *(f"ALTER TABLE {table} DISABLE TRIGGER USER" for table in guarded),
            *sql_list,
            *(f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in guarded),
        ],
    )


PostgreSQLOperations.execute_sql_flush = _flush_past_the_audit_guards


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    env._resolved.clear()  # backend hosts' addresses: a test's fake DNS answers afresh
    yield


@pytest.fixture(autouse=True)
def _database_threads_start_afresh():
    """The database threads of async views live as long as the process, with their connections: each
    test gets new ones."""
    yield
    restart_database_threads()


@pytest.fixture(autouse=True)
def _no_cloud_identity(monkeypatch):
    """No test signs in to a cloud with the machine's identity, nor asks one for it.

    AWS's standard sources (environment, profile files, the instance's role)
    and Google's and Azure's metadata servers all point nowhere: a test that
    means to use one names it on loopback itself.
    """
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")


@pytest.fixture
def close_kept_connections():
    """For tests that call config.asgi in-process: the threads kept for pages, and asgiref's
    shared one, close their connections after each test (or the test database could not be
    flushed and dropped)."""
    yield
    from asgiref.sync import SyncToAsync

    from config.asgi import django_application

    for executor in [*django_application._idle, SyncToAsync.single_thread_executor]:
        executor.submit(connections.close_all).result()


@pytest.fixture
def owner(db):
    return make_user("owner@example.com", *Role, full_name="Olivia Owner")


@pytest.fixture
def member(db):
    return make_user("member@example.com", Role.STAFF, full_name="Max Member")


@pytest.fixture
def admin(db):
    return make_user("admin@example.com", Role.POLICY_ADMIN, full_name="Ada Admin")


@pytest.fixture
def privacy_officer(db):
    return make_user("privacy@example.com", Role.PRIVACY_OFFICER, full_name="Pia Privacy")


@pytest.fixture
def reader(db):
    return make_user("reader@example.com", Role.AUDITOR, full_name="Rita Reader")


@pytest.fixture
def outsider(db):
    return make_user("outsider@example.com", full_name="Otto Outsider")


@pytest.fixture
def single_sign_on(settings):
    """Single sign-on set up, with tests.governance.test_auth's provider (a file that also
    needs STEWARD_OIDC_AUTO_SIGNUP overrides this fixture, asking for it)."""
    from tests.governance.test_auth import SINGLE_SIGN_ON

    settings.SOCIALACCOUNT_PROVIDERS = SINGLE_SIGN_ON


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis: the one ``REDIS_URL`` names, else an embedded one for this test run."""
    from django.conf import settings

    if not settings.EMBEDDED_REDIS:
        yield settings.REDIS_URL
        return
    from pathlib import Path

    from config import embedded_redis

    server = embedded_redis.start(Path(settings.REDIS_URL.removeprefix("unix://")))
    yield settings.REDIS_URL
    embedded_redis.stop(server)


@pytest.fixture
def checks(monkeypatch):
    """Each health check (Django's ``is_usable``, a ``SELECT 1``) made from now on."""
    made = []
    wrapper = type(connections["default"])
    real = wrapper.is_usable

    def counted(self):
        made.append(self.alias)
        return real(self)

    monkeypatch.setattr(wrapper, "is_usable", counted)
    return made
