"""Settings come from the environment, strictly; production refuses unsafe defaults."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.broker import broker_url
from config.env import env_bool, env_int, env_list, env_secret, generated_secret

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = "q0c0ZtXz8rXqg2QyWJ1cJm9d3Hk7x2bQm4u5v6w7x8Y"


def test_env_bool_accepts_clear_words_and_refuses_the_rest(monkeypatch):
    monkeypatch.setenv("FLAG", "true")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false"):
        env_bool("FLAG")


def test_env_int_refuses_junk_and_too_small(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("N", 1)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 5, minimum=1)


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,, ")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_secrets_can_come_from_a_file(monkeypatch, tmp_path):
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    monkeypatch.setenv("TOKEN_FILE", str(path))
    assert env_secret("TOKEN") == "from-file"
    monkeypatch.setenv("TOKEN", "also-set")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("TOKEN")


def test_a_generated_secret_is_private_and_stable(tmp_path):
    first = generated_secret(tmp_path, "key")
    assert generated_secret(tmp_path, "key") == first
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [tmp_path / "key"]  # no temp file left behind


def test_the_broker_url_names_stewards_transport_and_speaks_kombu_for_a_unix_socket():
    assert broker_url("unix:///var/steward/redis.sock") == (
        "stewardredis+socket:///var/steward/redis.sock"
    )
    assert broker_url("redis://cache:6379/0") == "stewardredis://cache:6379/0"
    # TLS stays with kombu's own transport, which sets it up by the scheme's name.
    assert broker_url("rediss://cache:6380/0") == "rediss://cache:6380/0"


# What the developer's or CI's environment must not lend these subprocesses.
NOT_INHERITED = {
    "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "STEWARD_MASTER_KEY", "STEWARD_AUDIT_SIGNING_KEY",
    "EMAIL_HOST",
}  # fmt: skip


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    clean.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {
    "STEWARD_MODE": "production",
    "SECRET_KEY": "a-long-random-production-secret-key-" + "x" * 30,
    "STEWARD_MASTER_KEY": MASTER_KEY,
    "STEWARD_AUDIT_SIGNING_KEY": "zCZbVXk3dlG0r9yR8mN2pQ4sT6uW8xA1bC3dE5fG7hI",
    "DATABASE_URL": "postgres://steward@db.internal:5432/steward",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "ALLOWED_HOSTS": "steward.example.com",
    "EMAIL_HOST": "smtp.internal",
    "STEWARD_PRIVACY_CONTACT": "Example Ltd, Data Protection Officer, dpo@example.com",
    "DEFAULT_FROM_EMAIL": "Steward <steward@example.com>",
}


@pytest.mark.parametrize(
    "missing",
    [
        "SECRET_KEY",
        "STEWARD_MASTER_KEY",
        "STEWARD_AUDIT_SIGNING_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "ALLOWED_HOSTS",
        "EMAIL_HOST",
    ],
)
def test_production_refuses_to_start_without_explicit_values(tmp_path, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = _manage("check", STEWARD_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_the_database_and_redis_urls_can_come_from_files(tmp_path):
    """They hold passwords, as the keys do: a secret store's file serves them too (a
    DATABASE_URL_FILE was ignored, and an embedded Steward quietly ran on SQLite)."""
    (tmp_path / "db").write_text("postgres://steward:pw@db.internal:5432/steward\n")
    (tmp_path / "redis").write_text("redis://:pw@cache.internal:6379/2\n")
    env = {k: v for k, v in PRODUCTION.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL_FILE=str(tmp_path / "db"), REDIS_URL_FILE=str(tmp_path / "redis"))
    assert _setting("DATABASES['default']['HOST']", STEWARD_DATA_DIR=str(tmp_path), **env) == (
        "db.internal"
    )
    env.pop("STEWARD_MODE")
    assert _setting("REDIS_URL", STEWARD_DATA_DIR=str(tmp_path), **env) == (
        "redis://:pw@cache.internal:6379/2"
    )


def test_production_passes_the_deployment_checklist(tmp_path):
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", STEWARD_DATA_DIR=str(tmp_path), **PRODUCTION
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_sender_address_is_warned_of(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "DEFAULT_FROM_EMAIL"}
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", STEWARD_DATA_DIR=str(tmp_path), **env
    )
    assert result.returncode != 0
    assert "(steward.W203) Steward's mail goes out from steward@localhost" in result.stderr


def test_a_malformed_master_key_is_refused(tmp_path):
    result = _manage("check", STEWARD_DATA_DIR=str(tmp_path), STEWARD_MASTER_KEY="too-short")
    assert result.returncode != 0
    assert "32 random bytes" in result.stderr


def test_embedded_mode_generates_its_keys_once(tmp_path):
    assert _manage("check", STEWARD_DATA_DIR=str(tmp_path)).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert _manage("check", STEWARD_DATA_DIR=str(tmp_path)).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key
    assert (tmp_path / "master_key").exists()


def _setting(name: str, **env: str) -> str:
    result = _manage(
        "shell", "-c", f"from django.conf import settings; print(settings.{name})", **env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_behind_the_tls_proxy_sign_in_limits_and_audit_count_the_forwarded_client(tmp_path):
    """allauth's rate limits and the login audit events read the client from
    X-Forwarded-For, as many proxies deep as STEWARD_TRUSTED_PROXY_COUNT says, only
    behind the proxy: elsewhere a client could name any address it liked."""
    env = {"STEWARD_DATA_DIR": str(tmp_path)}
    assert _setting("ALLAUTH_TRUSTED_PROXY_COUNT", **env) == "0"
    env["STEWARD_BEHIND_TLS_PROXY"] = "true"
    assert _setting("ALLAUTH_TRUSTED_PROXY_COUNT", **env) == "1"
    assert _setting("ALLAUTH_TRUSTED_PROXY_COUNT", STEWARD_TRUSTED_PROXY_COUNT="2", **env) == "2"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "cache.internal:6379"),  # as redis-cli writes an address
        ("REDIS_URL", "steward:s3cret-pw@cache.internal:6379/0"),
        ("DATABASE_URL", "steward:s3cret-pw@db.internal:5432/steward"),
        ("DATABASE_URL", "postgres://steward:s3cret-pw@db.internal:notaport/steward"),
    ],
)
def test_a_malformed_service_url_is_refused_at_start_naming_the_variable(tmp_path, name, value):
    """Refused by ``check``, not found out page by page (whose logs withhold the error's
    text), and without repeating the URL, which may hold a password."""
    result = _manage("check", STEWARD_DATA_DIR=str(tmp_path), **{**PRODUCTION, name: value})
    assert result.returncode != 0
    assert f"steward: {name} must be" in result.stderr
    assert "s3cret" not in result.stderr


def test_an_unknown_log_level_is_refused_naming_the_variable(tmp_path):
    """Django's own "Unable to configure root logger" named no variable."""
    result = _manage("check", STEWARD_DATA_DIR=str(tmp_path), LOG_LEVEL="verbose")
    assert result.returncode != 0
    assert "steward: LOG_LEVEL must be DEBUG, INFO" in result.stderr
    assert _manage("check", STEWARD_DATA_DIR=str(tmp_path), LOG_LEVEL="warning").returncode == 0


def test_the_subject_index_key_is_secret_key_until_set(tmp_path):
    env = {**PRODUCTION, "STEWARD_DATA_DIR": str(tmp_path)}
    assert _setting("STEWARD_SUBJECT_INDEX_KEY", **env) == PRODUCTION["SECRET_KEY"]
    assert _setting("STEWARD_SUBJECT_INDEX_KEY", STEWARD_SUBJECT_INDEX_KEY="kept", **env) == "kept"


def test_rotating_secret_key_keeps_the_old_signatures_and_needs_the_index_key(tmp_path):
    """SECRET_KEY keyed the subject index: rotated, every indexed person would be found by no
    request, silently. A rotation (fallbacks set) without the index key is refused."""
    old = PRODUCTION["SECRET_KEY"]
    env = {
        **PRODUCTION,
        "STEWARD_DATA_DIR": str(tmp_path),
        "SECRET_KEY": "a-new-long-random-production-secret-key-" + "y" * 30,
        "SECRET_KEY_FALLBACKS": f"{old}, ",
    }
    refused = _manage("check", **env)
    assert refused.returncode != 0
    assert "STEWARD_SUBJECT_INDEX_KEY is not: set it to the SECRET_KEY" in refused.stderr
    env["STEWARD_SUBJECT_INDEX_KEY"] = old
    assert _setting("SECRET_KEY_FALLBACKS", **env) == str([old])
    assert _setting("STEWARD_SUBJECT_INDEX_KEY", **env) == old
    assert _manage("check", "--deploy", "--fail-level", "WARNING", **env).returncode == 0


def test_a_holiday_calendar_is_named_by_country_and_region_or_refused_in_words(tmp_path):
    env = {"STEWARD_DATA_DIR": str(tmp_path)}
    assert _setting("STEWARD_HOLIDAYS", STEWARD_HOLIDAYS="US-CA", **env) == "US-CA"
    refused = _manage("check", STEWARD_HOLIDAYS="US-ZZ", **env)
    assert refused.returncode != 0
    assert "STEWARD_HOLIDAYS='US-ZZ': Entity `US` does not have subdivision ZZ" in refused.stderr
    assert "US-CA, DE-BY, GB-ENG" in refused.stderr


def test_a_mail_server_is_waited_on_for_a_while_not_forever(tmp_path):
    """One that accepted the connection and never answered held whatever sent the mail (a
    page, a worker, create_api_token) forever: EMAIL_TIMEOUT was None."""
    env = {"STEWARD_DATA_DIR": str(tmp_path), "EMAIL_HOST": "smtp.internal"}
    assert _setting("EMAIL_TIMEOUT", **env) == "15"
    assert _setting("EMAIL_TIMEOUT", EMAIL_TIMEOUT="5", **env) == "5"
    refused = _manage("check", EMAIL_TIMEOUT="0", **env)
    assert refused.returncode == 2 and "steward: EMAIL_TIMEOUT must be at least 1" in refused.stderr


def test_a_relay_on_port_465_speaks_tls_from_the_start(tmp_path):
    env = {"STEWARD_DATA_DIR": str(tmp_path), "EMAIL_HOST": "smtp.internal"}
    assert _setting("EMAIL_PORT, settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL", **env) == (
        "587 True False"
    )
    assert (
        _setting(
            "EMAIL_PORT, settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL",
            EMAIL_USE_SSL="true",
            **env,
        )
        == "465 False True"
    )
    refused = _manage("check", EMAIL_USE_SSL="true", EMAIL_USE_TLS="true", **env)
    assert refused.returncode == 2
    assert "EMAIL_USE_SSL and EMAIL_USE_TLS are both true" in refused.stderr
