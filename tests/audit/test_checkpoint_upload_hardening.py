"""The security review of the checkpoint copies and the auditor's upload (round 3).

An uploaded file is the uploader's choice: it must neither mask what the stored checkpoints
show nor turn the trail's verdict to "broken" on its own say-so; its text reaches the trail,
the logs and the mails only as fields checked to be what Steward writes. The copy off the
machine must never hang the worker that signs checkpoints."""

import json
import os
import signal
from contextlib import contextmanager

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from audit import services, tasks, views
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import checkpoint_lines, create_checkpoint, record, run_verification
from governance.roles import Role
from tests.audit.test_trail_integrity import _tamper
from tests.factories import make_user

Action = AuditEvent.Action

#: A line shaped as Steward writes a checkpoint (whether it verifies is another matter).
SHAPED = {
    "sequence": 1,
    "head_hash": "0" * 64,
    "created_at": "2026-12-05T09:00:00.000000+00:00",
    "key_id": "0123456789abcdef",
    "signature": "A" * 86,
}


def _events(n: int) -> None:
    for i in range(n):
        record(action=Action.LOGIN, actor_label=f"user {i}")


def _check(client, content: str):
    upload = SimpleUploadedFile("kept.jsonl", content.encode(), content_type="application/jsonl")
    return client.post("/audit/checkpoints/check/", {"checkpoints": upload})


def _panel_verdict(reader) -> AuditEvent | None:
    return views.chain_status(reader)["last_verification"]


@pytest.fixture
def auditors(db):
    return [make_user("ada@example.com", Role.AUDITOR)]


# --- 1. an upload neither masks nor sets the trail's verdict ----------------------------------


def test_an_old_file_cannot_mask_a_stored_checkpoint_tampered_with_since(client, reader, auditors):
    _events(2)
    create_checkpoint()
    old_file = "".join(checkpoint_lines())
    _events(2)
    tampered = create_checkpoint()
    _tamper(
        "UPDATE audit_auditcheckpoint SET head_hash = %s WHERE id = %s", ["f" * 64, tampered.pk]
    )
    scheduled = run_verification()
    assert scheduled.outcome == "failure"
    mail.outbox.clear()

    client.force_login(reader)
    response = _check(client, old_file)
    check = AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED).latest("sequence")
    assert check.outcome == "failure", "the old file masked the tampered checkpoint"
    assert check.details["source"] == "upload" and check.actor == reader
    assert (
        f"checkpoint at #{tampered.sequence}: signature does not verify"
        in (check.details["checkpoint_problems"])
    )
    assert _panel_verdict(reader) == scheduled  # the panel keeps the scheduled verdict
    page = client.get(response["Location"]).content.decode()
    assert "OK:" not in page and "The trail does not verify" in page
    assert mail.outbox == []  # the stored checkpoints show it: the scheduled check mails it


def test_a_file_that_does_not_verify_is_the_files_problem_not_the_trails(client, reader, auditors):
    _events(2)
    create_checkpoint()
    scheduled = run_verification()
    assert scheduled.outcome == "success"
    line = json.loads(next(checkpoint_lines()))
    forged = json.dumps({**line, "signature": "A" * 86})
    unknown_key = json.dumps({**line, "key_id": "0" * 16})

    client.force_login(reader)
    response = _check(client, f"{forged}\n{unknown_key}\n")
    page = client.get(response["Location"]).content.decode()
    assert "Your file does not verify at line 1" in page
    assert "not with the trail" in page
    check = AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED).latest("sequence")
    assert check.details["source"] == "upload"
    assert check.details["unverified_lines"] == 2
    assert check.details["file_problems"][1] == (
        "your file does not verify at line 2 (checkpoint at #2: signed by key "
        "0000000000000000, neither the current signing key nor one in "
        "STEWARD_AUDIT_TRUSTED_KEYS)"
    )
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action=Action.AUDIT_ALERTED).exists()
    assert _panel_verdict(reader) == scheduled  # still "intact"
    assert '<span class="badge badge-ok">intact</span>' in client.get("/audit/").content.decode()


def test_a_validly_signed_file_the_trail_does_not_hold_is_mailed_naming_the_uploader(
    client, reader, auditors
):
    _events(3)
    create_checkpoint()
    cut_after = AuditEvent.objects.order_by("-sequence").first().sequence
    _events(6)  # more than the events recorded after the cut: #newest stays past the head
    newest = create_checkpoint()
    kept = "".join(checkpoint_lines())
    _tamper("DELETE FROM audit_auditevent WHERE sequence > %s", [cut_after])
    _tamper("DELETE FROM audit_auditcheckpoint WHERE sequence > %s", [cut_after])
    scheduled = run_verification()
    assert scheduled.outcome == "success"

    client.force_login(reader)
    response = _check(client, kept)
    [sent] = mail.outbox
    assert "uploaded" in sent.subject
    assert "Rita Reader" in sent.body and "uploaded" in sent.body
    assert f"#{newest.sequence} (line 2 of your file)" in sent.body
    page = client.get(response["Location"]).content.decode()
    assert f"vouches for #{newest.sequence:,} (line 2 of your file)" in page
    assert "mailed to every active auditor" in page
    assert _panel_verdict(reader) == scheduled  # recorded apart: the panel's word is beat's


# --- 2. the copy never blocks ------------------------------------------------------------------


class _Hung(Exception):
    """Not an OSError: keep_copy must not take the guard's alarm for a failed copy."""


@contextmanager
def _at_most(seconds: float):
    def hung(*_):
        raise _Hung(f"keep_copy still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("read_by_someone", [False, True])
def test_a_fifo_as_the_copy_file_fails_the_copy_at_once(
    db, settings, tmp_path, auditors, read_by_someone
):
    fifo = tmp_path / "checkpoints.jsonl"
    os.mkfifo(fifo)
    reader_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) if read_by_someone else None
    settings.STEWARD_AUDIT_CHECKPOINT_FILE = str(fifo)
    _events(1)
    checkpoint = create_checkpoint()
    try:
        with _at_most(3):
            services.keep_copy(checkpoint)
        if reader_fd is not None:
            assert os.read(reader_fd, 4096) == b""  # nothing was written into it
    finally:
        if reader_fd is not None:
            os.close(reader_fd)
    failed = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED, outcome="failure")
    assert failed.details["sequence"] == checkpoint.sequence
    # Nobody reading: the open fails at once (ENXIO); someone reading: refused as no file.
    assert failed.details["error"] == ("NotARegularFile" if read_by_someone else "OSError")
    assert len(mail.outbox) == 1


def test_a_torn_last_line_gets_its_newline_so_the_new_line_is_whole(db, settings, tmp_path):
    copy = tmp_path / "checkpoints.jsonl"
    copy.write_text('{"sequence": 1, "head_ha')  # a crash mid-append
    settings.STEWARD_AUDIT_CHECKPOINT_FILE = str(copy)
    _events(1)
    checkpoint = create_checkpoint()
    services.keep_copy(checkpoint)
    torn, whole = copy.read_text().split("\n")[:2]
    assert torn == '{"sequence": 1, "head_ha'
    assert json.loads(whole)["sequence"] == checkpoint.sequence
    assert copy.read_text().endswith("\n")
    services.keep_copy(checkpoint)  # a whole last line gets nothing added
    assert copy.read_text().count("\n") == 3


# --- 3. uploaded text is checked field by field -----------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key_id", "0123456789abcdef\n2026-12-05 09:00:00,000 INFO audit.alerts All clear"),
        ("key_id", "K" * 3_000),
        ("key_id", "0123456789ABCDEF"),
        ("head_hash", "F" * 64),
        ("head_hash", "0" * 63),
        ("signature", "A" * 85),
        ("signature", "A" * 84 + "=="),
        ("created_at", "yesterday"),
        ("created_at", "2026-12-05T09:00:00"),  # no offset
        ("sequence", 0),
        ("sequence", -5),
        ("sequence", 2**63),
        ("sequence", True),
        ("sequence", 1.0),
    ],
)
def test_a_field_that_is_not_as_steward_writes_it_is_refused_without_quoting_it(field, value):
    line = json.dumps({**SHAPED, field: value})
    with pytest.raises(ValueError, match="Line 2 is not a checkpoint") as refused:
        services.read_checkpoint_lines(f"{json.dumps(SHAPED)}\n{line}\n")
    if isinstance(value, str):
        assert value not in str(refused.value)


def test_a_number_of_thousands_of_digits_is_not_a_checkpoint_not_a_python_error():
    line = '{"sequence": ' + "9" * 5000 + "}"
    with pytest.raises(ValueError, match="Line 1 is not a checkpoint") as refused:
        services.read_checkpoint_lines(line)
    assert "4300" not in str(refused.value) and "digits" not in str(refused.value)
    within_a_line = json.dumps({**SHAPED, "sequence": 10**1500})
    with pytest.raises(ValueError, match="Line 1 is not a checkpoint"):
        services.read_checkpoint_lines(within_a_line)


def test_a_checkpoint_as_steward_writes_it_is_read_with_its_line_number(db):
    _events(1)
    create_checkpoint()
    line = next(checkpoint_lines())
    [read] = services.read_checkpoint_lines(f"\n{line}")
    expected = {k: v for k, v in json.loads(line).items() if k != "public_key"}
    assert read == {**expected, "line": 2}


def test_an_upload_with_a_forged_key_id_is_refused_before_anything_is_recorded(client, reader):
    _events(1)
    create_checkpoint()
    line = json.loads(next(checkpoint_lines()))
    client.force_login(reader)
    before = AuditEvent.objects.count()
    response = _check(client, json.dumps({**line, "key_id": line["key_id"] + "\nINFO forged"}))
    assert response.status_code == 422
    page = response.content.decode()
    assert "Line 1 is not a checkpoint" in page and "forged" not in page
    assert AuditEvent.objects.count() == before


def test_audit_verify_reads_files_with_the_same_strict_reader(db, tmp_path):
    from django.core.management import CommandError, call_command

    kept = tmp_path / "checkpoints.jsonl"
    kept.write_text(json.dumps({**SHAPED, "key_id": "K" * 3_000}) + "\n")
    with pytest.raises(CommandError, match="Line 1 is not a checkpoint"):
        call_command("audit_verify", "--checkpoints", str(kept))
    assert AuditCheckpoint.objects.count() == 0


# --- the hold: an upload's walk is not the trail's verification -------------------------------


def test_beat_verifies_while_an_upload_is_being_checked(db):
    """Beat stepped aside for any walk on its way, taking its result for the trail's: an
    upload's check, recorded apart now, would have left the day without a verification."""
    _events(1)
    with tasks.checking_upload_alone() as alone:
        assert alone
        with tasks.checking_upload_alone() as second:
            assert not second  # one upload at a time
        tasks.verify_chain()
    assert views._last_verification().outcome == "success"
    assert tasks.cache.get(tasks.CHECKING_UPLOAD_KEY) is None
