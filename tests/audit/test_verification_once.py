"""One verification at a time: the broker hands an acks-late task out again after its
visibility timeout, and a long trail takes longer to walk than that."""

from audit import tasks
from audit.models import AuditEvent
from audit.services import record, verification

Action = AuditEvent.Action


def _verifications() -> int:
    return AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED).count()


def test_a_copy_delivered_while_one_walks_the_chain_steps_aside(db):
    record(action=Action.LOGIN)
    assert tasks.cache.add(tasks.VERIFYING_KEY, True)  # one is walking now
    tasks.verify_chain()
    assert _verifications() == 0  # the one walking records the result


def test_each_verification_after_the_last_finished_runs(db):
    record(action=Action.LOGIN)
    tasks.verify_chain()
    tasks.verify_chain()
    assert _verifications() == 2


def test_a_verification_that_fails_lets_the_next_one_run(db, monkeypatch):
    def broken():
        raise RuntimeError("database went away")

    monkeypatch.setattr(verification, "verify_trail", broken)
    tasks.verify_chain()  # recorded as "could not finish"
    monkeypatch.undo()
    tasks.verify_chain()
    outcomes = AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED).values_list(
        "outcome", flat=True
    )
    assert sorted(outcomes) == ["failure", "success"]
