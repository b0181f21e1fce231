import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from audit import signing
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import (
    checkpoint_line,
    create_checkpoint,
    record,
    run_verification,
    verification,
)
from tests.asked_here import asked
from tests.audit.test_chain import _raw

Action = AuditEvent.Action


def _events(n: int) -> None:
    for i in range(n):
        record(action=Action.LOGIN, actor_label=f"user {i}")


def test_it_signs_the_head_and_records_that_it_did(db):
    _events(3)
    checkpoint = create_checkpoint()
    assert checkpoint.sequence == 3
    assert signing.verify(checkpoint.payload(), checkpoint.signature, signing.public_key_text())
    assert AuditEvent.objects.order_by("-sequence").first().action == Action.AUDIT_CHECKPOINT


def test_it_signs_nothing_for_an_empty_trail(db):
    assert create_checkpoint() is None
    with pytest.raises(CommandError, match="empty"):
        call_command("audit_checkpoint")


def test_a_forged_checkpoint_does_not_verify(db):
    _events(2)
    line = checkpoint_line(create_checkpoint(), signing.public_key_text())
    forged = {**line, "sequence": 1}
    assert not signing.verify(
        {k: forged[k] for k in ("sequence", "head_hash", "created_at", "key_id")},
        forged["signature"],
        forged["public_key"],
    )


def _export(tmp_path, capsys) -> str:
    call_command("audit_checkpoint", "--export")
    path = tmp_path / "checkpoints.jsonl"
    path.write_text(capsys.readouterr().out)
    return str(path)


def test_kept_checkpoints_catch_a_chain_rewritten_from_scratch(db, tmp_path, capsys):
    _events(4)
    create_checkpoint()
    kept = _export(tmp_path, capsys)
    # An attacker rewrites event 2 and recomputes every hash after it: the
    # chain verifies on its own, the database's checkpoints could be re-signed
    # only with the private key, and the exported ones still hold the old head.
    from audit import chain
    from audit.services import iter_chain_rows

    _raw("UPDATE audit_auditevent SET actor_label = 'mallory' WHERE sequence = 2")
    prev = chain.GENESIS_HASH
    for row in list(iter_chain_rows()):
        new_hash = chain.link_hash(prev, row)
        _raw("UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE sequence = %s",
             [prev, new_hash, row["sequence"]])  # fmt: skip
        prev = new_hash
    with pytest.raises(CommandError, match="checkpoint"):
        call_command("audit_verify", "--checkpoints", kept)
    assert "the chain's hash there differs" in capsys.readouterr().err


def test_kept_checkpoints_catch_a_removed_tail(db, tmp_path, capsys):
    _events(4)
    create_checkpoint()
    kept = _export(tmp_path, capsys)
    _raw("DELETE FROM audit_auditevent WHERE sequence >= 3")
    with pytest.raises(CommandError):
        call_command("audit_verify", "--checkpoints", kept)
    assert "the chain ends before it" in capsys.readouterr().err


def test_checkpoints_signed_by_another_key_are_refused(db, tmp_path, capsys):
    _events(2)
    create_checkpoint()
    kept = _export(tmp_path, capsys)
    other = ""
    while not other.startswith("-"):  # one key in 64 begins with "-" (URL-safe base64)
        other = signing.public_key_text(signing.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(CommandError):
        # With "=": after a space, such a key was read as an option ("expected one argument").
        call_command("audit_verify", "--checkpoints", kept, f"--public-key={other}")
    assert "signature does not verify" in capsys.readouterr().err


def _new_signing_key(settings) -> str:
    """Replace the signing key; returns the replaced key's public key."""
    old = signing.public_key_text()
    settings.STEWARD_AUDIT_SIGNING_KEY = signing._b64encode(os.urandom(32))
    return old


def test_checkpoints_of_a_replaced_key_listed_as_trusted_still_verify(db, settings):
    """After the signing key is replaced, each checkpoint is checked with the key it names:
    the current one, or a past one listed in STEWARD_AUDIT_TRUSTED_KEYS."""
    _events(3)
    create_checkpoint()
    settings.STEWARD_AUDIT_TRUSTED_KEYS = [_new_signing_key(settings)]
    create_checkpoint()
    verification = run_verification()
    assert verification.details["checkpoint_problems"] == []
    assert verification.outcome == "success"


def test_a_checkpoint_of_a_key_not_trusted_is_named_as_such(db, settings, tmp_path, capsys):
    _events(2)
    old_id = create_checkpoint().key_id
    kept = _export(tmp_path, capsys)
    _new_signing_key(settings)
    create_checkpoint()
    problem = (
        f"checkpoint at #2: signed by key {old_id}, neither the current signing key "
        "nor one in STEWARD_AUDIT_TRUSTED_KEYS"
    )
    assert run_verification().details["checkpoint_problems"] == [problem]
    with pytest.raises(CommandError):
        call_command("audit_verify", "--checkpoints", kept)
    assert problem in capsys.readouterr().err


def test_the_export_names_the_key_that_signed_each_checkpoint(db, settings, capsys):
    _events(1)
    create_checkpoint()
    settings.STEWARD_AUDIT_TRUSTED_KEYS = [old := _new_signing_key(settings)]
    create_checkpoint()
    call_command("audit_checkpoint", "--export")
    keys = [json.loads(line)["public_key"] for line in capsys.readouterr().out.splitlines()]
    assert keys == [old, signing.public_key_text()]


def test_a_trusted_key_that_is_no_public_key_stops_the_start():
    signing.check_trusted_keys([signing.public_key_text(Ed25519PrivateKey.generate().public_key())])
    with pytest.raises(ImproperlyConfigured, match="'not-a-key' is not an audit public key"):
        signing.check_trusted_keys(["not-a-key"])


#: A line shaped as a checkpoint (whether it verifies is another matter).
SHAPED_LINE = json.dumps({
    "sequence": 1, "head_hash": "0" * 64, "created_at": "2026-12-05T09:00:00.000000+00:00",
    "key_id": "0123456789abcdef", "signature": "A" * 86,
})  # fmt: skip


def test_an_unreadable_checkpoint_file_is_a_clear_error(db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(SHAPED_LINE + "\nnot json\n")
    with pytest.raises(CommandError, match="Line 2 is not valid JSON"):
        call_command("audit_verify", "--checkpoints", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("audit_verify", "--checkpoints", str(tmp_path / "missing.jsonl"))


def test_an_empty_checkpoint_file_fails_and_a_pass_says_how_many_were_held(db, tmp_path, capsys):
    """An empty file printed "Audit chain intact", having held the chain to nothing."""
    _events(3)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(CommandError, match="holds no checkpoint"):
        call_command("audit_verify", "--checkpoints", str(empty))
    create_checkpoint()
    call_command("audit_verify")
    assert "; 1 checkpoint held against it" in capsys.readouterr().out


def test_the_public_key_command_prints_the_key(db, capsys):
    call_command("audit_checkpoint", "--public-key")
    assert capsys.readouterr().out.strip() == signing.public_key_text()


def test_a_verification_run_is_recorded_with_its_result(db):
    _events(3)
    create_checkpoint()
    event = run_verification()
    assert event.outcome == "success"
    assert event.details["checked"] == 4
    _raw("UPDATE audit_auditevent SET actor_label = 'x' WHERE sequence = 2")
    event = run_verification()
    assert event.outcome == "failure"
    assert event.details["first_bad_sequence"] == 2


def test_a_verification_that_cannot_finish_is_recorded_as_failed(db, monkeypatch, caplog):
    """Whatever stops a verification, its run is recorded as a failure naming the error
    (and logged), so the trail never keeps an older "intact" as its last word."""
    _events(2)

    def cannot_finish(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(verification, "verify_trail", cannot_finish)
    event = run_verification()
    assert event.action == Action.AUDIT_VERIFIED and event.outcome == "failure"
    assert event.details == {"error": "RuntimeError"}
    assert "audit verification could not finish" in caplog.text


def test_the_checkpoint_line_is_json_serialisable(db):
    _events(1)
    line = checkpoint_line(create_checkpoint(), signing.public_key_text())
    assert json.loads(json.dumps(line))["sequence"] == 1
    assert AuditCheckpoint.objects.count() == 1


def test_an_auditor_downloads_the_checkpoints_to_keep_elsewhere(client, reader, member, capsys):
    """The page told an auditor to run ``manage.py audit_checkpoint --export``: a command on
    the server. The same lines are a download now, and the download is recorded."""
    _events(2)
    create_checkpoint()
    _events(1)
    create_checkpoint()
    client.force_login(member)
    assert client.get(asked(client, "/audit/checkpoints.jsonl")).status_code == 403
    client.force_login(reader)
    page = client.get("/audit/checkpoints/").content.decode()
    assert f'href="{asked(client, "/audit/checkpoints.jsonl")}"' in page
    response = client.get(asked(client, "/audit/checkpoints.jsonl"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="steward-checkpoints')
    downloaded = b"".join(response.streaming_content if response.streaming else [response.content])
    call_command("audit_checkpoint", "--export")
    assert downloaded.decode().splitlines() == capsys.readouterr().out.splitlines()
    assert len(downloaded.decode().splitlines()) == 2
    exported = AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED, actor=reader).get()
    assert exported.details == {"format": "jsonl", "what": "checkpoints"}


@pytest.mark.parametrize(
    "junk",
    [
        "junk",
        "",
        "é" * 43,
        signing.public_key_text()[:42],
        signing.public_key_text() + "AAAA",
        "!" * 43,
    ],
)
def test_a_public_key_that_is_no_ed25519_key_is_refused_before_checking(db, tmp_path, capsys, junk):
    """--public-key=junk reported "signature does not verify", which reads as tampering."""
    _events(2)
    create_checkpoint()
    kept = _export(tmp_path, capsys)
    with pytest.raises(CommandError, match="not a valid Ed25519 public key"):
        call_command("audit_verify", "--checkpoints", kept, f"--public-key={junk}")
    assert "does not verify" not in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a valid Ed25519 public key"):
        signing.verify({}, "", junk)


def test_the_right_public_key_given_verifies(db, tmp_path, capsys):
    _events(2)
    create_checkpoint()
    kept = _export(tmp_path, capsys)
    call_command("audit_verify", "--checkpoints", kept, f"--public-key={signing.public_key_text()}")
    assert "Audit chain intact" in capsys.readouterr().out


def test_a_checkpoint_line_nested_too_deeply_is_not_valid_json(db, tmp_path):
    """A line of 100,000 "[" raised RecursionError out of json.loads."""
    bad = tmp_path / "deep.jsonl"
    # Deeper than Python's recursion limit, within the longest line read (2,048 characters).
    bad.write_text(SHAPED_LINE + "\n" + "[" * 2_000 + "\n")
    with pytest.raises(CommandError, match="Line 2 is not valid JSON"):
        call_command("audit_verify", "--checkpoints", str(bad))
