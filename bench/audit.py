"""Audit trail throughput: appends per second, chain verification speed, list page time.

Runs against a throw-away database (test_<name>) on whatever DATABASE_URL
points at — SQLite by default — so the real trail is never touched.
"""

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from audit import chain  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from audit.services import iter_chain_rows, record  # noqa: E402
from bench._support import bulk_append, chained_events  # noqa: E402

SINGLE_APPENDS = 2_000
WRITERS, APPENDS_PER_WRITER = 4, 500
VERIFY_ROWS = int(os.environ.get("BENCH_AUDIT_ROWS", 1_000_000))


def appends_single() -> float:
    start = time.perf_counter()
    for i in range(SINGLE_APPENDS):
        record(action=AuditEvent.Action.LOGIN, actor_label=f"bench {i}", details={"n": i})
    return SINGLE_APPENDS / (time.perf_counter() - start)


def appends_concurrent() -> float:
    def writer(n: int) -> None:
        for i in range(APPENDS_PER_WRITER):
            record(action=AuditEvent.Action.LOGIN, actor_label=f"writer {n}", details={"n": i})
        connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return WRITERS * APPENDS_PER_WRITER / (time.perf_counter() - start)


#: The backend of one event near the trail's start (the list's rare-backend filter): the
#: filter refuses a name the trail does not hold.
RARE_BACKEND = "OpenAI"


def fill_chain(total: int) -> None:
    """Append rows directly (hashes computed here) until the chain holds ``total`` events,
    the first of them naming :data:`RARE_BACKEND`."""
    head = AuditEvent.objects.order_by("-sequence").values("sequence", "hash").first()
    now = timezone.now()
    first = head["sequence"] + 1
    rows = (
        {
            "sequence": seq,
            "occurred_at": now,
            "actor_label": "filler",
            "request_id": "",
            "action": "auth.login",
            "outcome": "success",
            "target_type": "",
            "target_id": "",
            "target_repr": "",
            "category": "",
            "backend": RARE_BACKEND if seq == first else "",
            "details": {"n": seq},
            "message": "",
        }
        for seq in range(first, total + 1)
    )
    bulk_append(chained_events(rows, head["hash"]))


def list_page_times(total: int) -> None:
    """Server time of the auditor's list page, unfiltered, filtered and deep in the trail."""
    from django.test import Client

    from governance.roles import Role
    from tests.factories import make_user

    client = Client()
    client.force_login(make_user("bench-auditor@example.com", Role.AUDITOR))
    pages = {
        "newest page": "/audit/",
        "page deep in the trail": f"/audit/?before={total // 2}",
        "filter: action": "/audit/?action=auth.login",
        "filter: rare outcome": "/audit/?outcome=failure",
        "filter: today": f"/audit/?since={timezone.localdate().isoformat()}",
        "filter: rare backend": f"/audit/?backend={RARE_BACKEND}",
        "filter: category 4": "/audit/?category=4",
    }
    for label, url in pages.items():
        timings = []
        for _ in range(7):
            start = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        timings.sort()
        print(f"list page, {label + ':':<24} median {timings[3]:6.1f} ms  (max {timings[-1]:.1f})")


def main() -> None:
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host, locmem email
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        vendor = connection.vendor
        print(f"database: {vendor}")
        print(f"appends/s, one writer:        {appends_single():8.0f}  ({SINGLE_APPENDS} events)")
        if vendor == "postgresql":
            rate = appends_concurrent()
            print(
                f"appends/s, {WRITERS} writers:          {rate:8.0f}  "
                f"({WRITERS * APPENDS_PER_WRITER} events)"
            )
        else:
            print("appends/s, concurrent:        (PostgreSQL only; SQLite has one writer)")
        fill_chain(VERIFY_ROWS)
        start = time.perf_counter()
        report = chain.verify(iter_chain_rows())
        elapsed = time.perf_counter() - start
        assert report.intact, report.first_break
        per_million = 1e6 * elapsed / report.checked
        print(
            f"verify:                       {report.checked / elapsed:8.0f} events/s "
            f"({report.checked} in {elapsed:.2f} s; 1,000,000 ≈ {per_million:.1f} s)"
        )
        list_page_times(report.checked)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
