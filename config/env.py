"""Strict readers for settings taken from the environment.

Every reader fails loudly on a malformed value instead of guessing, and every
secret also accepts ``NAME_FILE`` (a path whose contents are the value), the
convention of Docker and systemd credentials.
"""

import argparse
import difflib
import ipaddress
import os
import re
import secrets
import socket
import threading
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from time import monotonic
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}
#: Every variable Steward itself reads: config/settings.py's, and chat/llm/clouds.py's for
#: the machine's cloud identity (tests/governance/test_console_backends.py checks none is
#: missing). None may be named as a model backend's key, nor its ``_FILE`` form: "Test
#: connection" would send the value, the master key say, to the backend's address.
STEWARD_VARIABLES = frozenset(
    {
        "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DATABASE_URL", "DEBUG", "DEFAULT_FROM_EMAIL",
        "DJANGO_SETTINGS_MODULE", "EMAIL_HOST", "EMAIL_HOST_PASSWORD", "EMAIL_HOST_USER",
        "EMAIL_PORT", "EMAIL_TIMEOUT", "EMAIL_USE_SSL", "EMAIL_USE_TLS", "LOG_LEVEL", "PORT",
        "REDIS_URL", "SECRET_KEY", "SECRET_KEY_FALLBACKS",
        "STEWARD_ACK_GRACE_DAYS", "STEWARD_API_REQUESTS_PER_MINUTE",
        "STEWARD_AUDIT_CHECKPOINT_FILE", "STEWARD_AUDIT_CHECKPOINT_MINUTES",
        "STEWARD_AUDIT_PERSONAL_DAYS",
        "STEWARD_AUDIT_SIGNING_KEY",
        "STEWARD_AUDIT_TRUSTED_KEYS",
        "STEWARD_AUDIT_VERIFY_HOURS", "STEWARD_BACKEND_HOSTS", "STEWARD_BACKEND_KEY_VARIABLES",
        "STEWARD_BEHIND_TLS_PROXY",
        "STEWARD_DATA_DIR", "STEWARD_HOLIDAYS",
        "STEWARD_HSTS_PRELOAD", "STEWARD_HSTS_SECONDS", "STEWARD_LOCAL_MODEL_THREADS",
        "STEWARD_LOCAL_WORKER_THREADS", "STEWARD_MASTER_KEY", "STEWARD_MODE",
        "STEWARD_OIDC_AUTO_SIGNUP", "STEWARD_OIDC_CLIENT_ID", "STEWARD_OIDC_CLIENT_SECRET",
        "STEWARD_OIDC_NAME", "STEWARD_OIDC_SERVER_URL", "STEWARD_OPEN_SIGNUP",
        "STEWARD_PRIVACY_CONTACT", "STEWARD_QUIZ_PASS_PERCENT", "STEWARD_REQUIRE_MFA",
        "STEWARD_SESSION_IDLE_MINUTES",
        "STEWARD_SESSION_MAX_HOURS", "STEWARD_SSL_REDIRECT", "STEWARD_SUBJECT_INDEX_KEY",
        "STEWARD_TASK_VISIBILITY_SECONDS",
        "STEWARD_TRUSTED_PROXY_COUNT", "STEWARD_WEB_WORKERS", "STEWARD_WORKER_THREADS",
        "TIME_ZONE",
        "GCE_METADATA_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
    }
)  # fmt: skip


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str) -> str:
    """The secret in ``NAME``, or the contents of the file named by ``NAME_FILE``."""
    value = os.environ.get(name, "").strip()
    path = os.environ.get(f"{name}_FILE", "").strip()
    if value and path:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc}") from None
    return value


def port_number(text: str) -> int:
    """A port from the command line (argparse's ``type``): one past 65535 (or below 1) made
    the web server die in a traceback, and 0 listened where the kernel chose."""
    value = int(text) if text.isascii() and text.isdigit() else 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, got {text!r}")
    return value


def allowed_host_problem(entry: str) -> str | None:
    """Why ``entry`` of ``ALLOWED_HOSTS`` matches no request, if it does not, with the host
    it probably meant. Django matches a request's host name alone (``steward.example.com``,
    ``.example.com`` for its subdomains, ``[::1]``, ``*``): an entry with a scheme, a port,
    a path or a trailing dot matched none, and every request was answered 400."""
    if len(words := entry.split()) > 1:
        return f"ALLOWED_HOSTS separates its hosts with commas: write {','.join(words)}"
    host = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", entry)
    host = re.split(r"[/?#]", host, maxsplit=1)[0].rpartition("@")[2]
    if _is_ipv6(host):
        host = f"[{host}]"
    elif host.startswith("["):
        host = host.partition("]")[0] + "]"
    else:
        host = host.partition(":")[0]
    host = host.rstrip(".")
    if host == entry:
        return None
    given = "" if "@" in entry else f", not {entry!r}"  # a password may follow the scheme
    if not host:
        return f"ALLOWED_HOSTS holds host names, such as steward.example.com{given}"
    return (
        f"ALLOWED_HOSTS holds host names alone, without a scheme, port or path: write {host}{given}"
    )


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def redis_url_problem(url: str) -> str | None:
    """Why the ``redis://``, ``rediss://`` or ``unix://`` URL ``url`` names no port or
    database Steward can use, if it does not; the URL is not repeated (it may hold a
    password). redis-py reads a database that is no number (``/abc``) as 0, where Celery's
    workers refuse it: the cache and the answers' streams would use another database than
    the tasks."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [
        return "REDIS_URL must be a URL, such as redis://cache.internal:6379/0"
    try:
        port = parts.port  # refuses one that is no number, or past 65535
    except ValueError:
        port = 0
    if port == 0:
        return (
            "REDIS_URL's port must be a number from 1 to 65535, as in redis://cache.internal:6379/0"
        )
    databases = [v for name, v in parse_qsl(parts.query, keep_blank_values=True) if name == "db"]
    if parts.scheme != "unix" and parts.path not in ("", "/"):
        databases.append(parts.path.removeprefix("/"))
    if all(d.isascii() and d.isdigit() for d in databases):
        return None
    return (
        "REDIS_URL's database (the number after the port, as in redis://cache.internal:6379/0, "
        "or ?db=0 after a unix:// socket's path) must be a whole number from 0"
    )


def oidc_server_url_problem(url: str) -> str | None:
    """Why single sign-on may not use the provider at ``url``, if it may not: the sign-in's
    code and tokens, and the client's secret, go to that address; over http:// anyone on
    the way reads them. http:// is taken for this machine's own address (a provider run
    beside Steward, the tests' fakes)."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # an unclosed [
        scheme, host = "", None
    if host and (scheme == "https" or (scheme == "http" and _is_loopback(host))):
        return None
    return (
        "STEWARD_OIDC_SERVER_URL must be an https:// address, such as "
        "https://login.microsoftonline.com/<tenant>/v2.0: over http:// the sign-in's codes "
        "and tokens would travel in clear (http:// is taken for localhost only)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def time_zone_problem() -> str | None:
    """Why ``TIME_ZONE`` names no time zone, if it does not. Django's settings refuse an
    unknown one themselves, with a traceback (``ValueError``) that names no variable."""
    name = env_str("TIME_ZONE", "UTC")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"TIME_ZONE must be a time zone's name, such as Europe/Paris or UTC, got {name!r}"
    return None


def unknown_variables(offered: frozenset[str]) -> dict[str, str | None]:
    """The ``STEWARD_*`` variables set that Steward does not read (a typo, most likely),
    each with the variable it probably meant (or ``None``). ``offered``: the backends' key
    variables (:func:`backend_key_variables`), which an operator may name as they like."""
    known = {name for name in STEWARD_VARIABLES if name.startswith("STEWARD_")}
    unknown = {}
    for name in sorted(os.environ):
        if not name.startswith("STEWARD_") or name in offered:
            continue
        if name in known or (name.endswith("_FILE") and name.removesuffix("_FILE") in known):
            continue
        # Compared without the prefix they share: any STEWARD_ name resembles every other.
        meant = difflib.get_close_matches(
            name.removeprefix("STEWARD_"), [k.removeprefix("STEWARD_") for k in sorted(known)], n=1
        )
        unknown[name] = f"STEWARD_{meant[0]}" if meant else None
    return unknown


#: The machine's own cloud credentials, read by the vendors' libraries rather than by
#: Steward's code (boto3 for Bedrock: ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, …).
CLOUD_IDENTITY_PREFIXES = ("AWS_",)


def is_stewards_own(name: str) -> bool:
    """Whether the variable ``name`` is one Steward (or a vendor's library in it) reads
    itself, or the file form of one."""
    name = name.upper().removesuffix("_FILE")
    return name in STEWARD_VARIABLES or name.startswith(CLOUD_IDENTITY_PREFIXES)


#: The variables a model backend may read its key from unless the operator says otherwise:
#: the vendors' usual names.
USUAL_BACKEND_KEY_VARIABLES = (
    "OPENAI_API_KEY,AZURE_OPENAI_API_KEY,ANTHROPIC_API_KEY,MISTRAL_API_KEY"
)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def backend_key_variables() -> frozenset[str]:
    """``STEWARD_BACKEND_KEY_VARIABLES``: the only variables a policy admin may name as a
    backend's key. An allowlist, because "Test connection" sends the named variable's value
    to an address the admin chose: any other variable of the server (a database password,
    a broker URL) would reach it."""
    names = env_list("STEWARD_BACKEND_KEY_VARIABLES", USUAL_BACKEND_KEY_VARIABLES.split(","))
    if malformed := [name for name in names if not ENV_NAME.match(name)]:
        raise ImproperlyConfigured(
            f"STEWARD_BACKEND_KEY_VARIABLES: {', '.join(malformed)} is not a variable name"
        )
    if own := [name for name in names if is_stewards_own(name)]:
        raise ImproperlyConfigured(
            f"STEWARD_BACKEND_KEY_VARIABLES may not offer {', '.join(own)}: Steward (or the "
            "machine's cloud identity) reads it, and a backend would send it to its address"
        )
    return frozenset(names)


def backend_key_variable_problem(name: str, offered: frozenset[str]) -> str | None:
    """Why a model backend may not read its key from the variable ``name``, if it may not."""
    if not ENV_NAME.match(name):
        return "An environment variable name has letters, digits and underscores only."
    if is_stewards_own(name):
        return (
            "This variable holds one of Steward's own secrets (or the machine's cloud "
            "credentials); name a variable that holds only this backend's key."
        )
    if name not in offered:
        return (
            f"{name} is not among the variables this server offers for backends' keys "
            f"({', '.join(sorted(offered)) or 'none'}): ask whoever runs Steward to add it to "
            "STEWARD_BACKEND_KEY_VARIABLES, or store the key here instead."
        )
    return None


HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def backend_hosts() -> tuple[str, ...]:
    """``STEWARD_BACKEND_HOSTS``: the hosts a model backend's address may name, as host names
    (``gpu-box``) and addresses or networks (``10.0.0.0/8``); empty, any host. "Test
    connection" calls whatever address a policy admin gives; this keeps it to these."""
    entries = [e.lower().rstrip(".") for e in env_list("STEWARD_BACKEND_HOSTS", [])]
    if malformed := [e for e in entries if not _network(e) and not HOST_NAME.fullmatch(e)]:
        raise ImproperlyConfigured(
            f"STEWARD_BACKEND_HOSTS: {', '.join(malformed)} is neither a host name nor an "
            "address or network (10.0.0.0/8)"
        )
    return tuple(entries)


def address_end_problem(url: str) -> str | None:
    """Why a backend's address ``url`` does not end at its path, if it does not: the vendor's
    client adds its own path (``/v1/chat/completions``) to the address, and a ?query or
    #fragment would take it in. Checked when a backend is saved and before each call (one
    saved before the rule)."""
    if "?" in url or "#" in url:  # even empty: "?x=" would take the path the client adds
        return "The address ends at its path: no ?query or #fragment."
    return None


def backend_host_problem(url: str, allowed: Sequence[str]) -> str | None:
    """Why a model backend may not be called at ``url``, if ``allowed``
    (:func:`backend_hosts`; empty: any host) does not take its host.

    A listed name is taken as it is; any other host must resolve only to addresses in the
    listed networks. It is resolved when the backend is saved and again before a call, its
    addresses then kept for :data:`RESOLVED_FOR_SECONDS` (:func:`resolved_addresses`). DNS
    can answer differently a moment later anyway (the vendor's client resolves the name
    again to connect): list the networks you control, and names whose DNS you trust. An
    empty address (the kind's own: the vendor's) is not checked.
    """
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:  # an unclosed [ (the form refuses it): nothing to call
        return "This is not a valid web address."
    if not allowed or not host or host in allowed:
        return None
    listed = (
        f"the hosts this server lets backends reach (STEWARD_BACKEND_HOSTS: {', '.join(allowed)})"
    )
    try:
        found = resolved_addresses(host)
    except (OSError, UnicodeError):
        return f"{host} cannot be resolved, so it cannot be checked against {listed}."
    networks = [network for entry in allowed if (network := _network(entry))]
    addresses = [ipaddress.ip_address(address) for address in found]
    if addresses and all(any(_v4(a) in network for network in networks) for a in addresses):
        return None
    if _network(host):
        return f"{host} is not among {listed}."
    return f"{host} resolves to an address outside {listed}."


#: How long a backend host's resolved addresses are used before it is resolved again.
RESOLVED_FOR_SECONDS = 30
#: The most names kept: the backends' hosts, and whatever a policy admin tried saving.
RESOLVED_NAMES_KEPT = 256
_resolved: dict[str, tuple[float, frozenset[str]]] = {}
_resolved_lock = threading.Lock()


def resolved_addresses(host: str) -> frozenset[str]:
    """The addresses ``host`` resolves to, as resolved at most :data:`RESOLVED_FOR_SECONDS`
    ago. Every backend call checks its host, and a DNS answer can take seconds: without
    this each answer would wait for one. Thirty seconds is what a name's move (DNS
    rebinding included) may go unseen, well within what the check promises (see
    :func:`backend_host_problem`). A name that cannot be resolved raises ``OSError`` (or
    ``UnicodeError``) and is not kept: the call is refused, and a mended DNS counts at once.
    """
    with _resolved_lock:
        expires, addresses = _resolved.get(host, (0.0, frozenset()))
    now = monotonic()
    if now < expires:
        return addresses
    addresses = frozenset(info[4][0].split("%")[0] for info in socket.getaddrinfo(host, None))
    with _resolved_lock:
        if len(_resolved) >= RESOLVED_NAMES_KEPT:
            _resolved.clear()
        _resolved[host] = (now + RESOLVED_FOR_SECONDS, addresses)
    return addresses


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def _v4(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as the IPv4 one it reaches."""
    return getattr(address, "ipv4_mapped", None) or address


def private_directory(path: Path) -> Path:
    """``path``, created if need be readable by this user alone (0700). The data directory
    holds the generated keys, the SQLite database and the embedded Redis's file, whose own
    modes follow the umask (0644 under the usual 022): made 0755, the directory let every
    user of the machine read the database."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def open_to_others(path: Path) -> bool:
    """Whether users other than its owner may enter or read the directory ``path``."""
    return path.is_dir() and bool(path.stat().st_mode & 0o077)


def generated_secret(data_dir: Path, filename: str, *, nbytes: int = 32) -> str:
    """A secret generated once into the data directory and reused after (embedded mode)."""
    path = data_dir / filename
    if path.exists():
        return path.read_text().strip()
    private_directory(data_dir)
    # Write a private temp file, then hard-link it into place: link() fails if the
    # name exists, so when several processes start at once exactly one value wins
    # and nobody ever reads a half-written file.
    tmp = data_dir / f".{filename}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(nbytes))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
