"""What an operator meets running Steward: a mail server that hangs, a token captured by a
shell, an unreachable database, a bad setting, the data directory's permissions, and the
commands' own words."""

import logging
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from chat.models import Conversation
from tests.factories import make_category

ROOT = Path(__file__).resolve().parent.parent
#: What the developer's or CI's environment must not lend these subprocesses.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "EMAIL_HOST", "LOG_LEVEL", "STEWARD_MASTER_KEY")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", STEWARD_DATA_DIR=str(data_dir), **extra)
    return env


def _run(argv: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(argv, env=env, cwd=ROOT, text=True, timeout=60, **kwargs)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return _run([sys.executable, str(ROOT / "manage.py"), *args], env)


@pytest.fixture(scope="module")
def installation(tmp_path_factory) -> Path:
    """An embedded installation, migrated, with one account (ada@example.com)."""
    data_dir = tmp_path_factory.mktemp("steward")
    env = _env(data_dir)
    assert _manage("migrate", "--noinput", "-v0", env=env).returncode == 0
    made = _manage(
        "shell", "-c", "from governance.models import User; "
        "User.objects.create_user('ada@example.com', 'correct-horse-battery')",
        env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return data_dir


@pytest.fixture
def silent_mail_server():
    """A mail server that accepts connections and never says a word (its port)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # the kernel completes each connection; nobody answers
        yield server.getsockname()[1]


def test_a_mail_server_that_never_answers_neither_hangs_nor_hides_the_token(
    installation, silent_mail_server
):
    """Without a timeout the owner's notice waited forever, and the token, printed after
    it, was saved and never shown."""
    env = _env(
        installation,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(silent_mail_server),
        EMAIL_TIMEOUT="1",
        LOG_LEVEL="INFO",
    )
    done = _run(
        [sys.executable, str(ROOT / "manage.py"), "create_api_token", "ada@example.com"],
        env,
        stderr=subprocess.STDOUT,  # one stream: the order the lines were written in
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout
    token = next(i for i, line in enumerate(lines) if line.startswith("stw_"))
    notice = next(i for i, line in enumerate(lines) if "was not sent (" in line)
    assert token < notice, done.stdout  # the token first, then the notice's failure


def test_a_shell_that_captures_the_command_gets_the_token_alone(installation):
    """T=$(manage.py create_api_token …): embedded mode's console mail (the owner's notice)
    went to stdout ahead of the token."""
    done = _manage("create_api_token", "ada@example.com", env=_env(installation))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("stw_") and len(done.stdout.split()) == 1, done.stdout
    assert "A new API token was made for your account" in done.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LOG_LEVEL", "verbose", "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL must be a database URL"),
        ("REDIS_URL", "cache:6379", "REDIS_URL must be a redis://, rediss:// or unix:// URL"),
        ("STEWARD_MASTER_KEY", "short", "STEWARD_MASTER_KEY must be 32 random bytes"),
        ("DEBUG", "maybe", "DEBUG must be true or false"),
        ("PORT", "0", "PORT must be at least 1"),
        ("STEWARD_MODE", "prod", "STEWARD_MODE must be embedded or production"),
        ("SECRET_KEY_FILE", "/nonexistent", "SECRET_KEY_FILE: cannot read /nonexistent"),
        ("STEWARD_MODE", "production", "SECRET_KEY must be set when STEWARD_MODE=production"),
        ("EMAIL_USE_SSL", "true", "EMAIL_USE_SSL and EMAIL_USE_TLS are both true"),
    ],
)
def test_a_refused_setting_is_one_line_not_a_traceback(tmp_path, name, value, says):
    env = _env(tmp_path, EMAIL_HOST="smtp.internal", EMAIL_USE_TLS="true", **{name: value})
    done = _manage("check", env=env)
    assert done.returncode == 2
    assert done.stderr == f"steward: {done.stderr.removeprefix('steward: ')}"
    assert says in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    "entry",
    [
        ["-m", "config.web", "--port", "1"],
        ["-m", "celery", "-A", "config", "worker"],
        ["-m", "celery", "-A", "config", "beat"],
    ],
    ids=["web", "worker", "beat"],
)
def test_the_web_server_and_celery_refuse_a_setting_in_one_line_too(tmp_path, entry):
    done = _run([sys.executable, *entry], _env(tmp_path, LOG_LEVEL="verbose"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "steward: LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'VERBOSE'"
    )


def test_a_database_that_cannot_be_reached_is_named_and_its_password_withheld(tmp_path):
    """The check said only "OperationalError", for a wrong host, port or name alike."""
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgres://steward:s3cret-pw@127.0.0.1:{port}/stewarddb"
    done = _manage("check", "--database", "default", env=_env(tmp_path, DATABASE_URL=url))
    assert done.returncode != 0
    assert (
        f"(steward.E102) The database in DATABASE_URL (127.0.0.1:{port}/stewarddb) could not be "
        "reached, so the subject index's key could not be checked: connection failed:"
    ) in done.stderr
    assert "Connection refused" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout


def test_the_data_directory_is_made_private(tmp_path):
    """Under umask 022 it was made 0755, and the SQLite file in it 0644: readable by every
    user of the machine."""
    data_dir = tmp_path / "var"
    done = _run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        _env(data_dir),
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_a_healthz_that_answers_503_is_not_logged_as_an_error(client, db, caplog, monkeypatch):
    """Redis down, each probe logged "ERROR django.request … Service Unavailable: /healthz"
    (156 lines while serve waited): the 503 is the answer, not a fault of Steward's."""
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", down)
    with caplog.at_level(logging.INFO, logger="django.request"):
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["redis"] == "error"
    assert [r for r in caplog.records if r.name == "django.request"] == []


def test_rotating_again_says_there_is_nothing_to_reseal(db, member, settings, capsys):
    """Run again after a rotation, it said "If you meant to rotate to a new key, it must come
    first", which read like an error."""
    import secrets

    conversation = Conversation(owner=member, category=make_category())
    conversation.init_key()
    conversation.save()
    settings.STEWARD_MASTER_KEY = f"{secrets.token_urlsafe(32)},{settings.STEWARD_MASTER_KEY}"
    call_command("rotate_master_key")
    assert "conversation keys: 1 re-sealed" in capsys.readouterr().out
    call_command("rotate_master_key")
    assert "Nothing to re-seal: every value is sealed with the first key already." in (
        capsys.readouterr().out
    )


def test_the_commands_help_names_what_they_do(tmp_path):
    env = _env(tmp_path)
    text = " ".join(
        " ".join(_manage(command, "--help", env=env).stdout.split())
        for command in ("rotate_master_key", "serve")
    )
    assert "data-subject requests' identifiers and archives" in text
    assert "the web server's port (default: the PORT variable" in text
    assert "the address the web server listens on" in text
