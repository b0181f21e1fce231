"""docs/audit-verification.md and its reference verifier, docs/verify_audit_export.py, against
real exports: the document cannot drift from the code that writes the trail."""

import html
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from audit import chain, exports, signing
from audit.models import AuditEvent
from audit.services import create_checkpoint, record
from tests.asked_here import asked
from tests.factories import make_chat_event

Action = AuditEvent.Action
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "audit-verification.md"
SCRIPT = ROOT / "docs" / "verify_audit_export.py"
#: A signing seed whose public key begins with "-" (about one in 64 does; found by trying).
DASH_SEED = "QCyrCv0nF19WvLdOY8pEkcr0aIanzUDgxwB4Z10emK0"


def _load_reference():
    spec = importlib.util.spec_from_file_location("verify_audit_export", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load_reference()

#: Values whose JSON is easy to get wrong: key order, non-ASCII, escapes, floats either side
#: of where Python and Steward's JSON writer start writing exponents.
AWKWARD = {
    "z": "Grüße ☕ 𝄞",
    "A": ["line\nbreak\t", "\u0001\u001f\u007f", '"quoted" \\ /', "\u2028"],
    "numbers": [0, -1, 2**53, 0.1, 2.5e-5, -1e-5, 1e-4, 1e-7, 12.0],
    "nested": {"b": {"d": None, "c": True}, "a": False, "é": {}, "E": []},
}
#: Floats PostgreSQL's jsonb does not give back as they were written (1e16 comes back as an
#: integer, -0.0 as 0.0): the writer's JSON of them is checked without storing them.
UNSTORED = {"numbers": [1e16, -1.5e300, 1.2345678901234567e-300, -0.0]}


@pytest.fixture
def dash_key(settings) -> str:
    settings.STEWARD_AUDIT_SIGNING_KEY = DASH_SEED
    key = signing.public_key_text()
    assert key.startswith("-")
    return key


@pytest.fixture
def exported(client, reader, member, dash_key, tmp_path):
    """An unfiltered JSON Lines export and the checkpoints file, as an auditor downloads them."""
    record(action=Action.LOGIN, actor=member, target=member, details={"ip": "127.0.0.1"})
    create_checkpoint()
    record(action=Action.POLICY_CHANGED, actor=member, actor_label="=1+1", category="Internal",
           before=None, after=AWKWARD, message="Grüße")  # fmt: skip
    make_chat_event(category="Internal", number=2, actor=member, findings={"EMAIL_ADDRESS": 1})
    create_checkpoint()
    client.force_login(reader)
    export = tmp_path / "export.jsonl"
    export.write_bytes(
        b"".join(client.get(asked(client, "/audit/export/jsonl/")).streaming_content)
    )
    response = client.get(asked(client, "/audit/checkpoints.jsonl"))
    checkpoints = tmp_path / "checkpoints.jsonl"
    checkpoints.write_bytes(b"".join(response.streaming_content) if response.streaming else
                            response.content)  # fmt: skip
    return export, checkpoints


def _run(*args: str) -> subprocess.CompletedProcess:
    """The script as an auditor runs it: its own process, isolated (-I: neither the current
    directory nor the script's is on the path, so nothing of Steward's can be imported)."""
    command = [sys.executable, "-I", str(SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_reference_verifier_passes_a_real_export_and_its_checkpoints(exported, dash_key):
    export, checkpoints = exported
    done = _run(str(export), "--checkpoints", str(checkpoints), f"--public-key={dash_key}")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [json.loads(line) for line in export.read_text().split("\n") if line]
    assert rows[-1]["action"] == Action.AUDIT_EXPORTED
    verified = f"OK: {len(rows)} events, head {rows[-1]['hash']}; 2 checkpoint(s) verified\n"
    assert done.stdout == verified


def test_it_names_the_event_whose_byte_was_changed(exported, dash_key):
    export, checkpoints = exported
    text = export.read_text()
    export.write_text(text.replace("Grüße ☕", "Grüße ☔", 1))
    done = _run(str(export), "--checkpoints", str(checkpoints), f"--public-key={dash_key}")
    assert done.returncode == 1
    changed = AuditEvent.objects.get(action=Action.POLICY_CHANGED).sequence
    assert f"FAILED: event #{changed}: content differs" in done.stdout


def _fails(capsys, *args) -> bool:
    code = reference.main([str(arg) for arg in args])
    output = capsys.readouterr().out
    return code == 1 and "FAILED" in output and "OK" not in output


def _clear_values(line: bytes) -> range:
    """Where the line's one personal value (its actor's name) is: the chain covers its keyed
    hash, so only Steward's verification, holding the key, sees it changed
    (tests/audit/test_personal_values.py)."""
    assert set(json.loads(line)["pseudonyms"]) == {"actor_label"}
    start = line.index(b'"actor_label": "') + len(b'"actor_label": "')
    return range(start, line.index(b'"', start))


def test_one_bit_changed_in_any_byte_of_an_event_is_caught(exported, dash_key, tmp_path, capsys):
    export, checkpoints = exported
    lines = export.read_bytes().split(b"\n")
    middle = next(i for i, line in enumerate(lines) if b"policy.changed" in line)
    assert not _fails(capsys, export, "--checkpoints", checkpoints, f"--public-key={dash_key}")
    changed = tmp_path / "changed.jsonl"
    personal = _clear_values(lines[middle])
    for at in range(len(lines[middle])):
        if at in personal:
            continue
        line = bytearray(lines[middle])
        line[at] ^= 1
        changed.write_bytes(b"\n".join([*lines[:middle], bytes(line), *lines[middle + 1 :]]))
        assert _fails(capsys, changed), f"byte {at} of {lines[middle]!r}"


def test_one_bit_changed_in_any_byte_of_a_checkpoint_is_caught(
    exported, dash_key, tmp_path, capsys
):
    export, checkpoints = exported
    lines = checkpoints.read_bytes().split(b"\n")
    changed = tmp_path / "changed.jsonl"
    for at in range(len(lines[0])):
        line = bytearray(lines[0])
        line[at] ^= 1
        changed.write_bytes(b"\n".join([bytes(line), *lines[1:]]))
        args = (export, "--checkpoints", changed, f"--public-key={dash_key}")
        assert _fails(capsys, *args), f"byte {at} of {lines[0]!r}"


def test_a_checkpoint_signed_by_a_key_not_given_is_refused(exported, tmp_path, capsys):
    export, checkpoints = exported
    other = "ToXNh6mA2OUpTmTzb8YH44OpqG1Xv1HXE9SwJQtuzmI"
    assert reference.main([str(export), "--checkpoints", str(checkpoints),
                           f"--public-key={other}"]) == 1  # fmt: skip
    assert "not one given" in capsys.readouterr().out


def test_the_hash_of_every_value_is_the_chains(db):
    """Floats are where Python's json and Steward's orjson part ways (1e-05, 1e+16)."""
    row = {name: None for name in chain.CONTENT_FIELDS} | {"before": AWKWARD, "after": UNSTORED}
    assert reference.canonical(row).encode() == chain.content(row)
    event = record(action=Action.POLICY_CHANGED, after=AWKWARD, message="Ω")
    stored = AuditEvent.objects.filter(pk=event.pk).values(*exports.COLUMNS).get()
    stored["occurred_at"] = stored["occurred_at"].isoformat()
    assert reference.event_hash(stored["prev_hash"], stored) == event.hash


def test_the_checkpoint_payload_and_key_id_are_signings(db, dash_key):
    record(action=Action.LOGIN)
    checkpoint = create_checkpoint()
    line = {**checkpoint.payload(), "signature": checkpoint.signature, "public_key": dash_key}
    assert reference.signed_payload(line) == signing.canonical(checkpoint.payload())
    assert reference.key_id(dash_key) == signing.key_id(dash_key) == checkpoint.key_id


def test_rest_api_rows_recompute_with_the_reference_hash(client, reader, member, settings):
    """The API showed the actor as a public id, but the hash covers the account's number;
    its times are in the server's time zone, the same moment."""
    settings.TIME_ZONE = "Asia/Kolkata"
    record(action=Action.LOGIN, actor=member, target=member)
    make_chat_event(actor=member)
    client.force_login(reader)
    rows = client.get("/api/audit/events/").json()["results"]
    assert rows[-1]["occurred_at"].endswith("+05:30")
    assert {row["actor_id"] for row in rows} >= {member.pk}
    hashes, broken = reference.check_chain(sorted(rows, key=lambda row: row["sequence"]))
    assert broken is None and len(hashes) == len(rows)


def test_the_document_states_the_fields_and_quotes_the_script(db):
    doc = DOC.read_text()
    assert reference.HASHED_FIELDS == chain.CONTENT_FIELDS
    assert reference.GENESIS_HASH == chain.GENESIS_HASH and chain.GENESIS_HASH in doc
    listed = re.findall(r"^\| `(\w+)` \|", doc, flags=re.MULTILINE)
    assert listed == list(exports.COLUMNS)
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    assert blocks, "the document quotes the hash's code"
    for block in blocks:
        assert block in SCRIPT.read_text()
    assert "verify_audit_export.py" in doc
    assert "docs/audit-verification.md" in (ROOT / "README.md").read_text()


def test_the_checkpoints_page_command_takes_a_key_beginning_with_a_dash(
    client, reader, dash_key, tmp_path, capsys
):
    """--public-key KEY: argparse read a key beginning with "-" as an option ("expected one
    argument"); about one key in 64 does."""
    record(action=Action.LOGIN)
    create_checkpoint()
    call_command("audit_checkpoint", "--export")
    kept = tmp_path / "checkpoints.jsonl"
    kept.write_text(capsys.readouterr().out)
    client.force_login(reader)
    page = client.get("/audit/checkpoints/").content.decode()
    assert "audit-verification.md" in page
    shown = re.search(r"<code>manage\.py (audit_verify [^<]*)</code>", page).group(1)
    words = shlex.split(html.unescape(shown))
    words = [w.replace("FILE", str(kept)).replace("KEY", dash_key) for w in words]
    call_command(*words)
    assert "Audit chain intact" in capsys.readouterr().out
