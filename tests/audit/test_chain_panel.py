"""The chain panel's checkpoint line: with the checkpoint rows removed, it says so at once
from the trail's own audit.checkpoint events, before the next verification finds it."""

from audit.models import AuditEvent
from audit.services import create_checkpoint, record, run_verification
from tests.audit.test_trail_integrity import _tamper

WARNING = '<span class="badge badge-warn">warning</span> none stored, though the trail records '


def _checkpointed(times: int) -> None:
    for i in range(times):
        record(action=AuditEvent.Action.LOGIN, actor_label=f"user {i}")
        create_checkpoint()


def test_it_warns_when_the_trail_records_checkpoints_whose_rows_are_gone(client, reader):
    _checkpointed(2)
    _tamper("DELETE FROM audit_auditcheckpoint")
    client.force_login(reader)
    page = client.get("/audit/chain/").content.decode()
    assert f"{WARNING}2 signed checkpoints: verify now</dd>" in page
    assert "not verified yet" in page  # no verification has run since: the panel alone says it


def test_it_counts_one_checkpoint_in_the_singular(client, reader):
    _checkpointed(1)
    _tamper("DELETE FROM audit_auditcheckpoint")
    run_verification()
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert f"{WARNING}1 signed checkpoint: verify now</dd>" in page


def test_a_trail_never_checkpointed_has_none_stored_and_no_warning(client, reader):
    record(action=AuditEvent.Action.LOGIN)
    client.force_login(reader)
    page = client.get("/audit/chain/").content.decode()
    assert '<span class="muted">none stored</span>' in page and "badge-warn" not in page


def test_with_its_rows_kept_it_names_the_newest_checkpoint(client, reader):
    _checkpointed(2)
    client.force_login(reader)
    page = client.get("/audit/chain/").content.decode()
    assert "<dd>#3 · " in page and "none stored" not in page


def test_a_policy_admin_is_warned_without_the_auditors_verify_now(client, admin):
    _checkpointed(1)
    _tamper("DELETE FROM audit_auditcheckpoint")
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    assert f"{WARNING}1 signed checkpoint</dd>" in page and "verify now" not in page
