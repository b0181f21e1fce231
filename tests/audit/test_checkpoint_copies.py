"""Every checkpoint is shipped off the machine as it is signed (a log line, and a line
appended to STEWARD_AUDIT_CHECKPOINT_FILE), and an auditor holds the trail against such a
copy from the Checkpoints page: the one record of the head that the database's owner cannot
rewrite, which catches a tail cut just after a checkpoint's own event."""

import json
import logging

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from audit import services, tasks
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import checkpoint_lines, create_checkpoint, record, run_verification
from governance.roles import Role
from tests.audit.test_checkpoints import SHAPED_LINE
from tests.audit.test_trail_integrity import _tamper
from tests.factories import make_user

Action = AuditEvent.Action
COPIES = "steward.audit.checkpoints"


def _events(n: int) -> None:
    for i in range(n):
        record(action=Action.LOGIN, actor_label=f"user {i}")


def _signed(capture) -> AuditCheckpoint:
    """A checkpoint signed as beat signs it: the copy is written once the row commits."""
    with capture(execute=True):
        return tasks.checkpoint() or AuditCheckpoint.objects.order_by("-created_at").first()


# --- the copy --------------------------------------------------------------------------------


def test_each_checkpoint_is_logged_and_appended_as_its_export_line(
    db, settings, tmp_path, caplog, django_capture_on_commit_callbacks
):
    copy = tmp_path / "worm" / "checkpoints.jsonl"
    copy.parent.mkdir()
    settings.STEWARD_AUDIT_CHECKPOINT_FILE = str(copy)
    _events(2)
    with caplog.at_level(logging.INFO, logger=COPIES):
        _signed(django_capture_on_commit_callbacks)
        _events(1)
        _signed(django_capture_on_commit_callbacks)
    exported = "".join(checkpoint_lines())
    assert copy.read_text() == exported
    logged = [r.getMessage() for r in caplog.records if r.name == COPIES]
    assert [line + "\n" for line in logged] == exported.splitlines(keepends=True)
    assert json.loads(logged[0])["public_key"]


def test_the_copies_logger_speaks_at_info_whatever_log_level_says(settings):
    """Operators route it to a remote syslog or SIEM: LOG_LEVEL=WARNING must not drop it,
    and no filter may rewrite it (paths are masked, the JSON is no path)."""
    assert settings.LOGGING["loggers"][COPIES]["level"] == "INFO"
    record = logging.LogRecord(COPIES, logging.INFO, "", 0, "%s", ('{"sequence": 1}',), None)
    for name, spec in settings.LOGGING["filters"].items():
        factory = spec["()"]
        if isinstance(factory, str):
            module, _, attribute = factory.rpartition(".")
            factory = getattr(__import__(module, fromlist=[attribute]), attribute)
        assert factory().filter(record), name
    assert record.getMessage() == '{"sequence": 1}'


def test_without_a_file_the_checkpoint_is_only_logged(
    db, settings, caplog, django_capture_on_commit_callbacks
):
    settings.STEWARD_AUDIT_CHECKPOINT_FILE = ""
    _events(1)
    with caplog.at_level(logging.INFO, logger=COPIES):
        _signed(django_capture_on_commit_callbacks)
    assert len([r for r in caplog.records if r.name == COPIES]) == 1
    assert not AuditEvent.objects.filter(outcome="failure").exists()


def test_a_copy_that_cannot_be_written_is_logged_and_told_but_the_checkpoint_stands(
    db, settings, tmp_path, caplog, django_capture_on_commit_callbacks
):
    make_user("ada@example.com", Role.AUDITOR)
    settings.STEWARD_AUDIT_CHECKPOINT_FILE = str(tmp_path / "not-mounted" / "checkpoints.jsonl")
    _events(2)
    checkpoint = _signed(django_capture_on_commit_callbacks)  # raises nothing
    assert AuditCheckpoint.objects.filter(pk=checkpoint.pk).exists()
    failed = AuditEvent.objects.get(outcome="failure")
    assert failed.action == Action.AUDIT_EXPORTED
    assert failed.details == {
        "what": "checkpoint copy",
        "sequence": checkpoint.sequence,
        "error": "FileNotFoundError",
        "auditors_mailed": 1,
    }
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "FileNotFoundError" in error.getMessage()
    assert "not-mounted" not in caplog.text  # the type only, never the exception's text
    [sent] = mail.outbox
    assert sent.to == ["ada@example.com"]
    assert f"#{checkpoint.sequence}" in sent.body and "STEWARD_AUDIT_CHECKPOINT_FILE" in sent.body
    assert run_verification().outcome == "success"  # the trail itself is fine


def test_the_checkpoints_page_says_where_copies_go_and_that_the_last_one_failed(
    client, reader, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.STEWARD_AUDIT_CHECKPOINT_FILE = str(tmp_path / "missing" / "checkpoints.jsonl")
    _events(1)
    _signed(django_capture_on_commit_callbacks)
    client.force_login(reader)
    page = client.get("/audit/checkpoints/").content.decode()
    assert "steward.audit.checkpoints" in page
    assert "could not be copied" in page


# --- the upload ------------------------------------------------------------------------------


def _kept_file(content: str | bytes, name: str = "kept.jsonl") -> SimpleUploadedFile:
    raw = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, raw, content_type="application/jsonl")


def _check(client, content, name="kept.jsonl"):
    return client.post("/audit/checkpoints/check/", {"checkpoints": _kept_file(content, name)})


def _checks():
    return AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED)


def test_an_intact_trail_holds_the_uploaded_checkpoints(client, reader):
    _events(3)
    create_checkpoint()
    _events(2)
    create_checkpoint()
    kept = "".join(checkpoint_lines())
    client.force_login(reader)
    response = _check(client, kept)
    assert response.status_code == 302
    check = _checks().get()
    assert response["Location"] == f"/audit/checkpoints/?checked={check.sequence}"
    assert check.actor == reader and check.outcome == "success"
    assert check.details["kept_checkpoints"] == 2
    assert "kept.jsonl" not in json.dumps(check.details) + check.message
    page = client.get(response["Location"]).content.decode()
    assert "OK: 2 checkpoints held" in page


def test_the_upload_catches_a_tail_cut_just_after_a_checkpoints_own_event(client, reader):
    """The known gap: events cut after a checkpoint's event, the checkpoint rows past the
    cut with them. Every check inside the database passes; the copy kept elsewhere does not."""
    make_user("ada@example.com", Role.AUDITOR)
    _events(3)
    create_checkpoint()  # its own event is the newest
    cut_after = AuditEvent.objects.order_by("-sequence").first().sequence
    _events(4)
    newest = create_checkpoint()
    kept = "".join(checkpoint_lines())  # the copy beat shipped off the machine
    _events(1)
    _tamper("DELETE FROM audit_auditevent WHERE sequence > %s", [cut_after])
    _tamper("DELETE FROM audit_auditcheckpoint WHERE sequence > %s", [cut_after])
    assert run_verification().outcome == "success"  # nothing inside the database notices
    mail.outbox.clear()

    client.force_login(reader)
    response = _check(client, kept)
    check = _checks().order_by("-sequence").first()
    assert check.outcome == "failure" and check.actor == reader
    assert check.details["kept_checkpoints"] == 2
    head = check.sequence - 1  # past the cut: that verification's and the sign-in's events
    page = client.get(response["Location"]).content.decode()
    assert (
        f"The trail ends at #{head:,}, but a signed checkpoint vouches for "
        f"#{newest.sequence:,}" in page
    )
    assert len(mail.outbox) == 1  # told, as any failed verification is


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("", "The submitted file is empty"),
        ("\n\n", "holds no checkpoint"),
        ('{"sequence": 1}\nnot json\n', "Line 1 is not a checkpoint"),
        (f"{SHAPED_LINE}\nnot json\n", "Line 2 is not valid JSON"),
        ("[" * 2_000, "Line 1 is not valid JSON"),  # deeper than Python's recursion limit
        (SHAPED_LINE.replace('"sequence": 1', '"sequence": "3"'), "Line 1 is not a checkpoint"),
        (b"\xff\xfe{}", "not UTF-8 text"),
    ],
)  # fmt: skip
def test_a_malformed_file_is_refused_and_nothing_is_checked(client, reader, content, error):
    _events(2)
    create_checkpoint()
    client.force_login(reader)
    before = AuditEvent.objects.count()
    response = _check(client, content)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_a_file_over_the_limit_is_refused(client, reader, monkeypatch):
    from audit import forms

    monkeypatch.setattr(forms, "MAX_CHECKPOINT_FILE_BYTES", 10)
    _events(1)
    create_checkpoint()
    client.force_login(reader)
    response = _check(client, "".join(checkpoint_lines()))
    assert response.status_code == 422
    assert "the limit is" in response.content.decode()
    assert not _checks().exists()


def test_a_check_waits_for_a_verification_that_is_running(client, reader):
    _events(1)
    create_checkpoint()
    client.force_login(reader)
    assert tasks.cache.add(tasks.VERIFYING_KEY, True)  # beat's walk is on its way
    response = _check(client, "".join(checkpoint_lines()))
    assert response.status_code == 409
    assert "already running" in response.content.decode()
    assert not _checks().exists()
    assert tasks.cache.get(tasks.VERIFYING_KEY)  # not ours to let go
    tasks.cache.delete(tasks.VERIFYING_KEY)
    assert _check(client, "".join(checkpoint_lines())).status_code == 302
    assert tasks.cache.get(tasks.VERIFYING_KEY) is None


@pytest.mark.parametrize("persona", ["member", "admin", "privacy_officer", "outsider"])
def test_only_auditors_may_check_an_upload(db, client, request, persona):
    _events(1)
    create_checkpoint()
    kept = "".join(checkpoint_lines())
    client.force_login(request.getfixturevalue(persona))
    assert _check(client, kept).status_code == 403
    client.logout()
    assert _check(client, kept)["Location"].startswith("/accounts/login/")
    assert not _checks().exists()


def test_the_upload_needs_its_csrf_token_and_a_post(reader):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(reader)
    assert client.get("/audit/checkpoints/check/").status_code == 405
    assert _check(client, "{}").status_code == 403
    page = client.get("/audit/checkpoints/").content.decode()
    assert 'action="/audit/checkpoints/check/"' in page and 'enctype="multipart/form-data"' in page
    assert "csrfmiddlewaretoken" in page


def test_services_read_checkpoint_lines_names_the_first_bad_line():
    line = SHAPED_LINE
    assert services.read_checkpoint_lines(f"{line}\n\n") == [{**json.loads(line), "line": 1}]
    with pytest.raises(ValueError, match="Line 3 is not valid JSON"):
        services.read_checkpoint_lines(f"{line}\n\nnope")
