"""What an operator installing Steward from the README meets with a bad or misspelt
setting: one sentence naming the variable, not a traceback; a warning for a variable
Steward does not read; and a README that names every variable Steward reads."""

import re
import sys
from pathlib import Path

import pytest

from config.checks import check_any_host, check_sender_address, check_unknown_variables
from config.env import (
    STEWARD_VARIABLES,
    allowed_host_problem,
    oidc_server_url_problem,
    redis_url_problem,
    time_zone_problem,
    unknown_variables,
)
from tests.test_operations import _env, _manage, _run

ROOT = Path(__file__).resolve().parent.parent
KEY = "q0c0ZtXz8rXqg2QyWJ1cJm9d3Hk7x2bQm4u5v6w7x8Y"


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
        # Taken, then every request was answered 400: Django matches host names alone.
        (
            "ALLOWED_HOSTS",
            "https://steward.example.com",
            "ALLOWED_HOSTS holds host names alone, without a scheme, port or path: write "
            "steward.example.com, not 'https://steward.example.com'",
        ),
        # The cache and the answers' streams quietly used database 0, Celery's workers failed.
        ("REDIS_URL", "redis://:s3cret@127.0.0.1:6379/abc", "REDIS_URL's database (the number"),
        # Taken: the sign-in's code and tokens would have travelled in clear.
        ("STEWARD_OIDC_SERVER_URL", "http://idp.example.com/s3cret", "must be an https:// addr"),
        # A rotation list with an empty entry: "must be 32 random bytes", of which key?
        ("STEWARD_MASTER_KEY", f"{KEY},", "STEWARD_MASTER_KEY's second key is empty"),
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
    # ... and DEFAULT_FROM_EMAIL (steward.W203), also where Configuration says what it needs.
    assert "`DEFAULT_FROM_EMAIL`" in first_hour
    configuration = readme.split("\n## Configuration\n")[1].split("\n## ")[0]
    assert "and `DEFAULT_FROM_EMAIL` (without it: `steward.W203`)" in configuration


@pytest.mark.parametrize(
    ("entry", "meant"),
    [
        ("https://steward.example.com", "steward.example.com"),
        ("steward.example.com/", "steward.example.com"),
        ("http://steward.example.com:8000/steward/", "steward.example.com"),
        ("steward.example.com:443", "steward.example.com"),
        ("steward.example.com.", "steward.example.com"),
        ("[::1]:8000", "[::1]"),
        ("::1", "[::1]"),
    ],
)
def test_a_host_with_a_scheme_port_or_path_is_refused_with_the_host_it_meant(entry, meant):
    """Django matches a request's host name alone against each entry: none of these ever
    matched, and every request was answered 400 ("Bad Request") with nothing saying why."""
    assert allowed_host_problem(entry) == (
        "ALLOWED_HOSTS holds host names alone, without a scheme, port or path: write "
        f"{meant}, not {entry!r}"
    )


def test_hosts_separated_by_spaces_are_refused_with_the_commas_they_need():
    assert allowed_host_problem("a.example.com b.example.com") == (
        "ALLOWED_HOSTS separates its hosts with commas: write a.example.com,b.example.com"
    )


def test_a_host_given_with_a_password_is_refused_without_repeating_it():
    problem = allowed_host_problem("https://ada:s3cret@steward.example.com/")
    assert "write steward.example.com" in problem and "s3cret" not in problem


@pytest.mark.parametrize(
    "entry", ["steward.example.com", ".example.com", "*", "localhost", "127.0.0.1", "[::1]"]
)
def test_a_host_name_as_django_matches_it_is_taken(entry):
    assert allowed_host_problem(entry) is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://cache.internal:6379",
        "redis://cache.internal:6379/",
        "redis://:pw@cache.internal:6379/15",
        "rediss://cache.internal:6380/2?ssl_cert_reqs=required",
        "unix:///var/steward/redis.sock",
        "unix:///var/steward/redis.sock?db=3",
    ],
)
def test_a_redis_url_naming_a_database_by_number_or_none_is_taken(url):
    assert redis_url_problem(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://cache.internal:6379/abc",  # redis-py: database 0; Celery's workers: an error
        "redis://cache.internal:6379/-1",  # the server refuses it at each connection
        "redis://cache.internal:6379/0/1",  # redis-py reads database 1 ("01")
        "redis://cache.internal:6379?db=abc",  # redis-py: ValueError at the first connection
        "unix:///var/steward/redis.sock?db=one",
    ],
)
def test_a_redis_database_that_is_not_a_number_is_refused(url):
    assert redis_url_problem(url) == (
        "REDIS_URL's database (the number after the port, as in redis://cache.internal:6379/0, "
        "or ?db=0 after a unix:// socket's path) must be a whole number from 0"
    )


def test_a_redis_port_that_is_not_a_number_is_refused_without_repeating_the_url():
    problem = redis_url_problem("redis://:s3cret@cache.internal:abc/0")
    assert problem == (
        "REDIS_URL's port must be a number from 1 to 65535, as in redis://cache.internal:6379/0"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://login.microsoftonline.com/tenant/v2.0",
        "http://localhost:5556/dex",
        "http://127.0.0.1:8080/realms/steward",
        "http://[::1]:8080/",
    ],
)
def test_an_https_provider_or_one_on_this_machine_is_taken(url):
    assert oidc_server_url_problem(url) is None


@pytest.mark.parametrize(
    "url", ["http://idp.example.com/realms/steward", "idp.example.com", "ftp://idp.example.com"]
)
def test_a_provider_reached_in_clear_or_without_a_scheme_is_refused(url):
    assert oidc_server_url_problem(url) == (
        "STEWARD_OIDC_SERVER_URL must be an https:// address, such as "
        "https://login.microsoftonline.com/<tenant>/v2.0: over http:// the sign-in's codes "
        "and tokens would travel in clear (http:// is taken for localhost only)"
    )


@pytest.mark.parametrize("port", ["99999", "0", "-1", "abc"])
def test_serve_refuses_a_port_that_is_none_in_argparses_words(tmp_path, port):
    """99999 and -1 reached the web server, which died in a traceback (bind(): OverflowError);
    0 listened on a port the kernel picked, which serve never announced."""
    done = _manage("serve", "--no-workers", f"--port={port}", env=_env(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"manage.py serve: error: argument --port: must be a port from 1 to 65535, got {port!r}"
    )
    assert "Traceback" not in done.stderr


def test_the_web_server_refuses_a_port_past_65535_in_argparses_words(tmp_path):
    done = _run([sys.executable, "-m", "config.web", "--port", "99999"], _env(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1].endswith(
        "error: argument --port: must be a port from 1 to 65535, got '99999'"
    )


def test_check_deploy_warns_when_mail_goes_out_from_localhost(settings):
    """Without DEFAULT_FROM_EMAIL, invitations and password resets went out from
    steward@localhost, which relays refuse and recipients' servers file as spam."""
    settings.EMAIL_HOST = "smtp.internal"
    settings.DEFAULT_FROM_EMAIL = "Steward <steward@localhost>"
    (warning,) = check_sender_address()
    assert warning.id == "steward.W203"
    assert warning.msg == (
        "Steward's mail goes out from steward@localhost (DEFAULT_FROM_EMAIL), an address at "
        "no domain of yours: mail servers often refuse it or file it as spam."
    )
    assert warning.hint == (
        "Set DEFAULT_FROM_EMAIL to an address at your domain that your mail server accepts, "
        "e.g. 'Steward <steward@example.com>'."
    )
    settings.DEFAULT_FROM_EMAIL = "Steward <steward@example.com>"
    assert check_sender_address() == []


def test_check_deploy_warns_of_any_host(settings):
    """Mailed links are built from the request's Host: '*' lets a forged one send a
    colleague's password-reset link, key and all, to another site."""
    settings.ALLOWED_HOSTS = ["*"]
    (warning,) = check_any_host()
    assert warning.id == "steward.W204"
    assert "links Steward mails" in warning.msg
    settings.ALLOWED_HOSTS = ["steward.example.com", ".example.com"]
    assert check_any_host() == []


def test_mail_printed_to_the_console_needs_no_sender(settings):
    """Embedded without EMAIL_HOST, mail is printed, not sent: nothing to warn of."""
    settings.EMAIL_HOST = ""
    settings.DEFAULT_FROM_EMAIL = "Steward <steward@localhost>"
    assert check_sender_address() == []
