"""The subject index's key: a fingerprint of the key it was written with, so that under
another key nothing starts and no request is recorded or scoped, instead of finding nobody.
An empty index takes the key set now; a database that cannot be reached never passes."""

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError

from chat import index_key
from chat.models import SubjectIndexKey, SubjectMention
from config.asgi import _refusal_at_start
from config.celery import _refused_under_another_index_key
from governance.roles import Role
from tests.factories import make_done_answer, make_user


def _index_something() -> None:
    answer = make_done_answer(make_user("ann@example.com", Role.STAFF))
    SubjectMention.objects.create(digest="d" * 32, kind="EMAIL_ADDRESS",
                                  conversation=answer.conversation)  # fmt: skip


def _stored() -> str | None:
    return SubjectIndexKey.objects.values_list("fingerprint", flat=True).first()


def test_entries_without_a_record_of_their_key_are_refused_not_taken(db, settings):
    """The record gone (a flush, a restore of part of a backup), the first scope took
    whatever key was set and found nobody."""
    _index_something()
    SubjectIndexKey.objects.all().delete()
    settings.STEWARD_SUBJECT_INDEX_KEY = "a key nobody checked"
    assert index_key.refusal() == index_key.UNKNOWN
    assert index_key.settle() == index_key.UNKNOWN
    assert _stored() is None  # not taken
    call_command("subject_index_key", "--stamp")
    assert index_key.refusal() is None


def test_an_empty_index_takes_the_key_set_when_a_process_starts(transactional_db, settings):
    """Stamped under one key, empty, started under another: the first message indexed
    under the new key made the next start refuse, and going back to the old key passed."""
    index_key.stamp()
    settings.STEWARD_SUBJECT_INDEX_KEY = "the key chosen before anything was indexed"
    assert _refusal_at_start() is None
    assert _stored() == index_key.fingerprint()
    _index_something()
    assert _refusal_at_start() is None
    settings.STEWARD_SUBJECT_INDEX_KEY = settings.SECRET_KEY
    assert _refusal_at_start() == index_key.CHANGED


def test_migrate_and_a_flush_give_an_empty_index_the_key_set_now(db, settings):
    SubjectIndexKey.objects.all().delete()
    index_key.after_migrate(using="default")
    assert _stored() == index_key.fingerprint()


def test_a_database_that_cannot_be_reached_never_passes(transactional_db, monkeypatch):
    """The server coming up before the database started under any key."""

    def unreachable():
        raise OperationalError("connection to server at 127.0.0.1, port 5999 failed")

    monkeypatch.setattr(index_key, "_migrated", unreachable)
    assert "could not be reached" in _refusal_at_start()
    with pytest.raises(SystemExit, match="could not be reached"):
        _refused_under_another_index_key()
    with pytest.raises(CommandError, match="could not be reached"):
        call_command("subject_index_key")
    [error] = index_key.check_index_key(databases=["default"])
    assert error.id == "steward.E102"
    monkeypatch.undo()  # before the test's flush, whose post_migrate reads the index
