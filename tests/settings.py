"""Test settings: the real settings, made fast and isolated.

``DATABASE_URL`` / ``REDIS_URL`` pick PostgreSQL and a real Redis (as .ci/run
does); unset, tests run on SQLite and start an embedded Redis only for the
integration tests that need one.
"""

import os
import tempfile

from config.env import USUAL_BACKEND_KEY_VARIABLES

os.environ.setdefault("STEWARD_DATA_DIR", tempfile.mkdtemp(prefix="steward-test-"))
# The tests' backends read their keys from these too (inherited by the workers tests start).
os.environ.setdefault(
    "STEWARD_BACKEND_KEY_VARIABLES",
    USUAL_BACKEND_KEY_VARIABLES + ",EU_LLM_KEY,STEWARD_TEST_LLM_KEY,STEWARD_TEST_OPENAI_KEY,"
    "STEWARD_TEST_UNSET_KEY,STEWARD_UNSET_KEY",
)

from config.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Unit tests: a per-process cache that each test clears; integration tests use Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
STEWARD_REQUIRE_MFA = False  # tests that need it turn it on
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
WHITENOISE_USE_FINDERS = True  # serve static straight from the source tree
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not SQLite's in-memory database: a live server answers from threads of its
    # own, and an in-memory database is one connection they share, which a request thread
    # still closing after its test ended (a client's keep-alive) may not close: the
    # thread dies with an error, and with 3.11's tracebacks the run fails.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
