"""The auditors' figures at scale: the compliance report and dashboard summary of a period.

Runs against a throw-away database (test_<name>) on whatever DATABASE_URL points at. Fills
BENCH_REPORT_EVENTS ``chat.request`` events (default 200,000) spread evenly over the 365 days
before today, and a day's worth more today (547 by default), chained as the trail chains
them, then times :func:`audit.reports.summarise` for 7, 30, 90 and 365 days, and counts
its queries: first with nothing cached (every day added up from the trail), then again
after one more event (the days that are over come from the cache; only today is read).
"""

import gc
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# The tests' per-process cache keeps 300 entries: a year of day sums would not fit, as it
# does in Redis (the cache Steward runs with). Read before the cache is first used.
settings.CACHES["default"].setdefault("OPTIONS", {})["MAX_ENTRIES"] = 100_000

import datetime as dt  # noqa: E402

from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from audit import reports  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from bench._support import bulk_append, chained_events  # noqa: E402
from tests.factories import make_chat_event  # noqa: E402

EVENTS = int(os.environ.get("BENCH_REPORT_EVENTS", 200_000))
DAYS = 365
CATEGORIES = [(1, "Public"), (2, "Internal"), (3, "Confidential")]
BACKENDS = [("Local Ollama", "on_prem"), ("OpenAI", "external_api")]
FINDINGS = [
    {"EMAIL_ADDRESS": 1},
    {"EMAIL_ADDRESS": 2, "PERSON": 1},
    {"PHONE_NUMBER": 1},
    {"IBAN_CODE": 1, "PERSON": 3},
    {"rule Project Falcon": 1},
]


def fill(total: int) -> None:
    """``total`` chat requests, oldest first, from DAYS days ago up to yesterday's end, and
    a day's worth more today, up to now: what is read again after each new event."""
    rng = random.Random(7)
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=DAYS)
    step = dt.timedelta(days=DAYS) / total
    times = [start + n * step for n in range(total)]
    todays = total // DAYS
    times += [today + (now - today) * (n + 1) / (todays + 1) for n in range(todays)]
    bulk_append(chained_events((_request(n, at, rng) for n, at in enumerate(times)), "0" * 64))
    with connection.cursor() as cursor:  # the statistics a trail that has been there has
        cursor.execute("ANALYZE audit_auditevent")


def _request(n: int, at: dt.datetime, rng: random.Random) -> dict:
    number, category = rng.choice(CATEGORIES)
    # One confidential request in fifty goes off premise: the report's exceptions.
    local = number == 3 and rng.random() >= 0.02
    backend, hosting = BACKENDS[0] if local else rng.choice(BACKENDS)
    decision = rng.choice(["allowed", "allowed", "pseudonymised", "blocked"])
    return {
        "sequence": n + 1,
        "occurred_at": at,
        "actor_label": "bench",
        "request_id": "",
        "action": AuditEvent.Action.CHAT_REQUEST,
        "outcome": "blocked" if decision == "blocked" else "success",
        "target_type": "",
        "target_id": "",
        "target_repr": "",
        "category": category,
        "backend": "" if decision == "blocked" else backend,
        "details": {
            "decision": decision,
            "category_number": number,
            "hosting_class": hosting,
            "region": "eu",
            "findings": rng.choice(FINDINGS) if decision != "allowed" else {},
            "replaced": {},
            "chars": rng.randint(20, 3000),
            "message": f"{rng.getrandbits(128):032x}",  # as long as a message's UUID
        },
        "message": "",
    }


def timed(period: reports.Period) -> tuple[float, int, int]:
    """ms, the summary's requests, and the queries it took. Garbage is collected first: a
    collection the call before made due would land in this one's time."""
    gc.collect()
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        summary = reports.summarise(period)
        took = (time.perf_counter() - start) * 1000
    return took, summary.requests, len(queries)


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(f"database: {connection.vendor}; {EVENTS:,} chat requests over {DAYS} days")
        fill(EVENTS)
        today = timezone.localdate()
        for days in (7, 30, 90, 365):
            period = reports.Period(today - dt.timedelta(days=days - 1), today)
            cache.clear()
            cold, requests, cold_queries = timed(period)
            make_chat_event()  # a newer event: the page's summary is asked for again
            warm, _, warm_queries = timed(period)
            print(
                f"summary of {days:3d} days ({requests:7,} requests): "
                f"nothing cached {cold:7.0f} ms {cold_queries:4d} queries, "
                f"days over cached {warm:6.1f} ms {warm_queries:4d} queries"
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
