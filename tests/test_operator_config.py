"""What an operator installing Steward from the README meets with a bad or misspelt
setting: one sentence naming the variable, not a traceback; a warning for a variable
Steward does not read; and a README that names every variable Steward reads."""

import re
import sys
from pathlib import Path

import pytest

from config.checks import check_unknown_variables
from config.env import STEWARD_VARIABLES, time_zone_problem, unknown_variables
from tests.test_operations import _env, _manage, _run

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        # Django's own settings refused it: "ValueError: Incorrect timezone setting".
        ("TIME_ZONE", "Mars/Base", "TIME_ZONE must be a time zone's name, such as Europe/Paris"),
        # dj_database_url takes it; Django then failed loading MySQLdb, in a traceback.
        ("DATABASE_URL", "mysql://steward:s3cret@db/steward", "DATABASE_URL must name a "),
        # Taken, then uvicorn's bind() failed: "OverflowError: bind(): port must be 0-65535".
        ("PORT", "99999", "PORT must be at most 65535, got 99999"),
        # Refused by audit.apps once the apps load, after the settings' own refusals.
        ("STEWARD_AUDIT_TRUSTED_KEYS", "garbage", "STEWARD_AUDIT_TRUSTED_KEYS: 'garbage' is not"),
    ],
)
def test_a_value_django_or_a_library_would_refuse_later_is_one_line(tmp_path, name, value, says):
    done = _manage("check", env=_env(tmp_path, **{name: value}))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("steward: ") and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert "s3cret" not in done.stderr


def test_the_web_server_refuses_an_unknown_time_zone_in_one_line_too(tmp_path):
    done = _run([sys.executable, "-m", "config.web", "--port", "1"], _env(tmp_path, TIME_ZONE="x"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "steward: TIME_ZONE must be a time zone's name, such as Europe/Paris or UTC, got 'x'"
    )


def test_a_database_url_from_a_file_is_refused_without_its_password(tmp_path):
    url_file = tmp_path / "database_url"
    url_file.write_text("mysql://steward:s3cret@db/steward\n")
    done = _manage("check", env=_env(tmp_path / "var", DATABASE_URL_FILE=str(url_file)))
    assert done.returncode == 2, done.stderr
    assert "not a mysql one" in done.stderr and "s3cret" not in done.stderr, done.stderr


@pytest.mark.parametrize("name", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"])
def test_a_time_zone_name_is_taken(monkeypatch, name):
    monkeypatch.setenv("TIME_ZONE", name)
    assert time_zone_problem() is None


@pytest.mark.parametrize("name", ["Mars/Base", "../../etc/passwd", "Europe/"])
def test_a_time_zone_that_is_no_name_is_refused(monkeypatch, name):
    monkeypatch.setenv("TIME_ZONE", name)
    assert time_zone_problem() == (
        f"TIME_ZONE must be a time zone's name, such as Europe/Paris or UTC, got {name!r}"
    )


def test_a_misspelt_steward_variable_is_named_with_the_one_it_likely_meant(monkeypatch):
    """STEWARD_REQUIRE_MFA spelt without its R: MFA stayed off, and nothing said so."""
    monkeypatch.setenv("STEWARD_RQUIRE_MFA", "true")
    monkeypatch.setenv("STEWARD_NOTHING_LIKE_IT", "1")
    found = {warning.msg: warning.hint for warning in check_unknown_variables()}
    assert found == {
        "STEWARD_RQUIRE_MFA is set, but Steward reads no variable of that name: its value is "
        "ignored.": "Did you mean STEWARD_REQUIRE_MFA?",
        "STEWARD_NOTHING_LIKE_IT is set, but Steward reads no variable of that name: its value "
        "is ignored.": "See the README's Configuration table.",
    }
    assert {w.id for w in check_unknown_variables()} == {"steward.W202"}


def test_stewards_own_variables_their_files_and_offered_backend_keys_are_not_unknown(
    monkeypatch,
):
    for name in STEWARD_VARIABLES:
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("STEWARD_MASTER_KEY_FILE", "/run/secrets/master_key")
    monkeypatch.setenv("STEWARD_GPU_BOX_KEY", "sk-1")  # offered to backends, by the operator
    assert unknown_variables(frozenset({"STEWARD_GPU_BOX_KEY"})) == {}


def test_the_warning_reaches_the_operator_at_start(tmp_path):
    done = _manage("check", env=_env(tmp_path, STEWARD_MASTERKEY="x"))
    assert done.returncode == 0, done.stderr
    assert "(steward.W202) STEWARD_MASTERKEY is set" in done.stderr
    assert "Did you mean STEWARD_MASTER_KEY?" in done.stderr


def test_the_readme_documents_every_variable_steward_reads():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Configuration\n")[1].split("\n## ")[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert STEWARD_VARIABLES - documented == set()


def test_the_readme_names_every_variable_that_may_come_from_a_file():
    """env_secret reads NAME_FILE; the README's list missed two of them."""
    settings_py = (ROOT / "config" / "settings.py").read_text()
    from_files = set(re.findall(r'env_secret\("([A-Z_]+)"\)', settings_py))
    from_files |= set(re.findall(r'_required_in_production\(\s*"([A-Z_]+)"\s*\)', settings_py))
    readme = (ROOT / "README.md").read_text()
    sentence = readme.split("\n## Configuration\n")[1].lstrip("\n").split("\n\n")[0]
    assert from_files and {n for n in from_files if f"`{n}`" not in sentence} == set()


def test_the_first_hour_lists_what_check_deploy_needs_to_report_nothing():
    """The README promised a silent `check --deploy` with the values it listed, which
    left out STEWARD_PRIVACY_CONTACT (steward.W201)."""
    readme = (ROOT / "README.md").read_text()
    first_hour = readme.split("\n## First hour in production\n")[1].split("\n2. ")[0]
    assert "`STEWARD_PRIVACY_CONTACT`" in first_hour
