import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from audit.services import pseudonym
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import canonical
from privacy import services
from privacy.services import holds
from tests.chat.conftest import external_llm, local_llm, org  # noqa: F401  (fixtures)


def confirm(hold, actor):
    """``actor`` confirms the ask to release ``hold`` that stands now."""
    from privacy.models import LegalHold

    asked_at = LegalHold.objects.get(pk=hold.pk).release_asked_at
    return services.release_hold(hold=hold, actor=actor, asked_at=asked_at)


def release(hold, *, asked_by, confirmed_by, reason: str = "Settled"):
    """Release a hold with four eyes: ``asked_by`` asks, ``confirmed_by`` confirms."""
    services.ask_release(hold=hold, actor=asked_by, reason=reason)
    return confirm(hold, confirmed_by)


def reject(request, officers, ground: str = "no_data", reason: str = "Not a customer of ours"):
    """Reject ``request`` with four eyes: the first officer proposes, the second confirms the
    proposal as they read it."""
    first, second = officers
    proposed = services.propose_rejection(
        request=request, actor=first, ground=ground, reason=reason
    )
    return services.confirm_rejection(
        request=proposed, actor=second, proposed_at=proposed.rejection_proposed_at
    )


def make_conversation(owner, category, *, days_idle: float = 0, texts=("Hello", "Hi there")):
    """A conversation with alternating user/assistant messages, last active ``days_idle`` ago."""
    at = timezone.now() - dt.timedelta(days=days_idle)
    conversation = Conversation(owner=owner, category=category, last_activity_at=at, created_at=at)
    conversation.init_key()
    conversation.title = texts[0][:40]
    conversation.save()
    for number, text in enumerate(texts):
        message = Message(
            conversation=conversation,
            role=Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT,
            status=Message.Status.SENT if number % 2 == 0 else Message.Status.DONE,
            category_number=category.number,
            created_at=at,
        )
        message.content = text
        message.save()
    return conversation


def mention(conversation, kind: str, value: str):
    message = conversation.messages.first()
    return SubjectMention.objects.create(
        digest=pseudonym(canonical(kind, value)),
        kind=kind,
        conversation=conversation,
        message=message,
    )


#: Whom the requests made with :func:`receive` are about, unless told otherwise.
SUBJECT_EMAIL = "jane.roe@example.org"


def receive(officers, kind=None, **overrides):
    """A request recorded by the first officer (an erasure of :data:`SUBJECT_EMAIL`, GDPR,
    received today, unless ``kind`` or ``overrides`` say otherwise)."""
    from privacy import services
    from privacy.models import SubjectRequest

    values = {
        "actor": officers[0],
        "kind": kind or SubjectRequest.Kind.ERASURE,
        "regime": SubjectRequest.Regime.GDPR,
        "received_on": timezone.localdate(),
        "identifiers": [("email", SUBJECT_EMAIL)],
        **overrides,
    }
    return services.receive_request(**values)


def run(request, officers, capture, *, execute: bool = True):
    """Verify (if still to), scope and approve with four eyes: the first officer, then the
    second; the execution runs at once (``execute=False``: its task is lost on the way)."""
    from privacy import services
    from privacy.models import SubjectRequest

    first, second = officers
    if request.status == SubjectRequest.Status.RECEIVED:
        request = services.verify_identity(request=request, actor=first, method="Called back")
    request = services.scope_request(request=request, actor=first)
    with capture(execute=execute):
        services.approve_request(request=request, actor=second)
    return SubjectRequest.objects.get(pk=request.pk)


def make_privacy_objects(staff, *, request_id: str, hold_id: str, purge_id: str) -> None:
    """A data-subject request about ``staff``, a hold on them and a finished purge run."""
    from privacy.models import LegalHold, PurgeRun, SubjectRequest

    SubjectRequest.objects.create(
        public_id=request_id,
        reference="DSR-2026-0001",
        kind=SubjectRequest.Kind.ACCESS,
        regime=SubjectRequest.Regime.GDPR,
        subject_user=staff,
        received_on=dt.date(2026, 11, 30),
        due_on=dt.date(2026, 12, 30),
    )
    LegalHold.objects.create(public_id=hold_id, user=staff, reason="Case 1")
    PurgeRun.objects.create(public_id=purge_id, status=PurgeRun.Status.DONE)


@pytest.fixture
def officers(db):
    from governance.roles import Role
    from tests.factories import make_user

    return (
        make_user("priya@corp.example", Role.PRIVACY_OFFICER, Role.STAFF, full_name="Priya"),
        make_user("omar@corp.example", Role.PRIVACY_OFFICER, full_name="Omar"),
    )


def while_first_is_slow_to_commit(monkeypatch, first, then) -> dict:
    """Run ``first`` on a thread of its own and, once it has written its audit event (its
    transaction still open), ``then`` on another; give ``then`` half a second to go ahead
    (were nothing stopping it), let ``first`` commit, and wait for both. Returns each one's
    outcome, under "first" and "then": "done", or the exception it raised."""
    written, go_on, outcomes = threading.Event(), threading.Event(), {}
    record = holds.record

    def slow_to_commit(**event):
        if threading.current_thread().name == "first":
            written.set()
            go_on.wait(10)
        return record(**event)

    monkeypatch.setattr(holds, "record", slow_to_commit)
    one = _in_thread(outcomes, "first", first)
    assert written.wait(10)
    two = _in_thread(outcomes, "then", then)
    two.join(0.5)
    go_on.set()
    one.join(15)
    two.join(15)
    assert not one.is_alive() and not two.is_alive()
    return outcomes


def _in_thread(outcomes: dict, name: str, work) -> threading.Thread:
    """``work()`` on a thread named ``name`` (its own database connection):
    ``outcomes[name]`` is "done", or the exception it raised."""

    def run():
        try:
            work()
            outcomes[name] = "done"
        except Exception as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread
