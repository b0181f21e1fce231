"""An erasure forgets the person's values in the audit trail after it committed, in batches.

The erasure keeps the keyed hashes of the account's names and addresses on the request
before it blanks them; forgetting matches the person's events by account and by those keyed
hashes, never by the clear name. So it runs after the erasure's transaction (the legal
holds lock released), a batch per transaction, and a retry after a crash finishes it.
"""

import datetime as dt
import functools
import json

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from audit import chain, personal
from audit.models import AuditEvent
from audit.services import pseudonym, record, verify_trail
from governance.models import User
from governance.roles import Role
from privacy import erasure, execution, purge
from privacy.models import SubjectRequest
from tests.factories import make_user
from tests.privacy.conftest import officers, receive, run  # noqa: F401  (a fixture)

Action = AuditEvent.Action
S = SubjectRequest.Status
IPS = ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5")


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def _sign_in(user: User, ip: str = "203.0.113.9") -> AuditEvent:
    return record(action=Action.LOGIN, actor=user, target=user, details={"ip": ip})


def _stored(event: AuditEvent) -> AuditEvent:
    return AuditEvent.objects.get(pk=event.pk)


def _in_clear(values) -> list[tuple[int, str]]:
    """The events, and paths, that still hold one of ``values`` in clear."""
    keyed = {pseudonym(value) for value in values}
    return [
        (event.sequence, path)
        for event in AuditEvent.objects.filter(pseudonyms__isnull=False)
        for path, hashed in event.pseudonyms.items()
        if hashed in keyed and not chain.is_removed(chain.value_at(event.__dict__, path))
    ]


def _breaks() -> list[str]:
    report, problems = verify_trail()
    return [report.first_break.reason] if report.first_break else problems


def _erasure_of(user: User, officers, capture, execute: bool = True) -> SubjectRequest:  # noqa: F811
    """An erasure of ``user``'s account, approved and run at once (unless ``execute``)."""
    return run(
        receive(officers, identifiers=[("email", user.email)], subject_user=user),
        officers,
        capture,
        execute=execute,
    )


def _erase_then_forget(user: User, **kwargs) -> int:
    """What an erasure's run does: keep the keyed names, erase the account, then forget."""
    names = erasure.account_names(user)
    assert erasure.erase_account(user)
    return personal.forget_person(user, names=names, **kwargs)


def test_a_crash_between_batches_is_finished_by_the_retry(
    member,
    officers,  # noqa: F811
    capture,
    monkeypatch,
):
    """The first batch committed, the second failed: the request failed (not completed), the
    account is erased, and the retry finds the rest by the keyed names kept on the request."""
    events = [_sign_in(member, ip) for ip in IPS]
    monkeypatch.setattr(
        personal, "forget_person", functools.partial(personal.forget_person, batch_size=2)
    )
    write, writes = personal._write, []

    def crash_on_the_second(updates):
        writes.append(len(updates))
        if len(writes) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        write(updates)

    monkeypatch.setattr(personal, "_write", crash_on_the_second)
    request = _erasure_of(member, officers, capture)
    assert request.status == S.FAILED and request.error.startswith("OperationalError")
    assert User.objects.get(pk=member.pk).is_erased  # its name is gone from the account
    assert _stored(events[0]).actor_label == personal.ERASED  # the first batch committed
    assert _stored(events[-1]).actor_label == "Max Member"
    assert pseudonym("member@example.com") in request.account_names
    assert "member@example.com" not in json.dumps(request.account_names)

    monkeypatch.setattr(personal, "_write", write)
    with capture(execute=True):
        execution.retry(request=request, actor=officers[1])
    request.refresh_from_db()
    assert request.status == S.COMPLETED
    assert _in_clear(["Max Member", "member@example.com", *IPS]) == []
    assert request.account_names == []  # kept until the trail is done with them
    assert _breaks() == []


class WorkerKilled(BaseException):
    """The worker's process dies here: nothing after it runs, not even the failure path."""


def test_a_worker_lost_between_batches_is_taken_over_and_finishes(
    member,
    officers,  # noqa: F811
    capture,
    monkeypatch,
):
    """Its heartbeat stops after the first batch: the sweep's take-over goes on from the
    keyed names kept on the request, the account blanked by then."""
    for ip in IPS:
        _sign_in(member, ip)
    request = _erasure_of(member, officers, capture, execute=False)
    monkeypatch.setattr(
        personal, "forget_person", functools.partial(personal.forget_person, batch_size=2)
    )
    write, writes = personal._write, []

    def die_on_the_second(updates):
        writes.append(len(updates))
        if len(writes) == 2:
            raise WorkerKilled
        write(updates)

    monkeypatch.setattr(personal, "_write", die_on_the_second)
    with pytest.raises(WorkerKilled):
        execution.execute(request.pk)
    monkeypatch.setattr(personal, "_write", write)
    assert SubjectRequest.objects.get(pk=request.pk).status == S.EXECUTING
    assert len(_in_clear(IPS)) == 3
    SubjectRequest.objects.filter(pk=request.pk).update(
        heartbeat_at=timezone.now() - execution.STALE_AFTER - dt.timedelta(minutes=1)
    )
    assert execution.recover()["resumed"] == 1  # the task runs at once (eager)
    request.refresh_from_db()
    assert request.status == S.COMPLETED and request.attempts == 2
    assert _in_clear(["Max Member", "member@example.com", *IPS]) == []


def test_a_second_run_changes_nothing(member, admin, monkeypatch):
    _sign_in(member)
    record(action=Action.USER_ROLES_CHANGED, actor=admin, target=member)
    names = erasure.account_names(member)
    assert _erase_then_forget(member, batch_size=1) == 2
    rows = list(AuditEvent.objects.order_by("sequence").values())
    written = []
    monkeypatch.setattr(personal, "_write", written.append)
    assert personal.forget_person(member, names=names, batch_size=1) == 0
    assert [updates for updates in written if updates] == []
    assert list(AuditEvent.objects.order_by("sequence").values()) == rows


def test_a_namesakes_values_are_left_alone(member):
    """Another account of the same name: its events, and its name where it acted on the
    erased account or was acted on by it, stay as they were."""
    namesake = make_user("max@example.net", Role.POLICY_ADMIN, full_name="Max Member")
    own = _sign_in(namesake, "198.51.100.7")
    on_theirs = record(action=Action.USER_ROLES_CHANGED, actor=namesake, target=member)
    on_namesake = record(action=Action.USER_ROLES_CHANGED, actor=member, target=namesake)
    _erase_then_forget(member)
    own = _stored(own)
    assert (own.actor_label, own.target_repr, own.details) == (
        "Max Member",
        "Max Member",
        {"ip": "198.51.100.7"},
    )
    on_theirs = _stored(on_theirs)
    assert (on_theirs.actor_label, on_theirs.target_repr) == ("Max Member", personal.ERASED)
    on_namesake = _stored(on_namesake)
    assert (on_namesake.actor_label, on_namesake.target_repr) == (personal.ERASED, "Max Member")
    assert _breaks() == []


def test_their_address_elsewhere_in_their_events_is_found_by_its_keyed_hash(member, admin):
    """A value naming them whole that no rule of the account's covers (their address in an
    event about their account, outside a clearance) goes by its keyed hash: the account,
    blanked first, is not read."""
    event = record(
        action=Action.POLICY_CHANGED,
        actor=admin,
        target=member,
        after={"user_email": "member@example.com"},
    )
    _erase_then_forget(member)
    event = _stored(event)
    assert event.after == {"user_email": personal.ERASED}
    assert event.actor_label == "Ada Admin"


def test_the_name_in_their_quiz_attempts_goes(member):
    """A quiz attempt's label holds its taker's name with the score: no whole name to match."""
    from training.models import QuizAttempt

    attempt = QuizAttempt.objects.create(
        user=member,
        category_number=2,
        score=3,
        total=4,
        pass_percent=75,
        passed=True,
        taken_at=timezone.now(),
    )
    taken = record(action=Action.TRAINING_QUIZ_TAKEN, actor=member, target=attempt)
    assert _stored(taken).target_repr == "Max Member: quiz 2, 3/4"
    _erase_then_forget(member)
    assert _stored(taken).target_repr == personal.ERASED
    assert _breaks() == []


def _holds_lock_held() -> bool:
    """Whether this connection holds the legal holds lock (PostgreSQL's advisory lock)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = %s)",
            [purge.HOLDS_LOCK],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_it_forgets_after_the_erasure_committed_outside_the_holds_lock(
    member,
    officers,  # noqa: F811
    capture,
    monkeypatch,
):
    """Each batch is a transaction of its own, begun with no other open: not the erasure's,
    which held the legal holds lock (~1 s per 5,000 of the person's events)."""
    for ip in IPS:
        _sign_in(member, ip)
    write, seen = personal._write, []

    def watched(updates):
        erased = User.objects.get(pk=member.pk).is_erased
        seen.append((connection.in_atomic_block, _holds_lock_held(), erased))
        write(updates)

    monkeypatch.setattr(personal, "_write", watched)
    monkeypatch.setattr(
        personal, "forget_person", functools.partial(personal.forget_person, batch_size=2)
    )
    request = _erasure_of(member, officers, capture)
    assert request.status == S.COMPLETED
    assert seen == [(False, False, True)] * 3
    assert _in_clear(["Max Member", *IPS]) == []
