"""The privacy desk with a large backlog: server time, queries and HTML size of /privacy/.

Runs against a throw-away database (test_<name>) on whatever DATABASE_URL points at
(SQLite by default; the figures that matter are PostgreSQL's). It builds what a busy
desk looks at: BENCH_DESK_CLOSED closed requests (default 2,500), of which
BENCH_DESK_TO_TELL completed erasures still owe their providers a notice (default 252;
GDPR Art. 19), BENCH_DESK_CONVERSATIONS conversations (default 150,000 of 500 people, a
third past their window: the desk counts them when no purge finished for a day), a few
legal holds, and open requests in every state, due from overdue to six weeks out. It times the
desk as a privacy officer sees it with BENCH_DESK_OPEN open requests (default "50,500":
one line each), and prints p50 / p95 of its renders, its queries and their time, the
size of its HTML, and `privacy.purge.left_behind` alone (the expired conversations'
count). ``--profile`` adds the functions the largest size spent its time in (cProfile).
"""

import cProfile
import itertools
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench._support import python_speed, rank  # noqa: E402
from chat.models import Conversation  # noqa: E402
from privacy import purge  # noqa: E402
from privacy.models import LegalHold, PurgeRun, RequesterNotice, SubjectRequest  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_DESK_OPEN", "50,500").split(",")]
CLOSED = int(os.environ.get("BENCH_DESK_CLOSED", 2_500))
TO_TELL = int(os.environ.get("BENCH_DESK_TO_TELL", 252))
CONVERSATIONS = int(os.environ.get("BENCH_DESK_CONVERSATIONS", 150_000))
OWNERS = 500
RENDERS = 15
HOLDS = 5
S = SubjectRequest.Status
OPEN_STATES = [S.RECEIVED, S.VERIFIED, S.SCOPED, S.APPROVED, S.EXECUTING, S.FAILED]
RECIPIENTS = [
    {"backend": "OpenAI business API", "hosting_class": "external", "region": "us", "calls": 7,
     "in_clear": 3},
    {"backend": "Mistral", "hosting_class": "external", "region": "eu", "calls": 2, "in_clear": 2},
    {"backend": "Local Ollama", "hosting_class": "on_prem", "region": "eu", "calls": 4,
     "in_clear": 4},
]  # fmt: skip


def records_began_long_ago() -> None:
    """Date the records of what requesters and recipients were told back two years (they
    began when this database was migrated, a moment ago), so that the requests of the past
    months owe their notices."""
    from django.db.migrations.recorder import MigrationRecorder

    MigrationRecorder.Migration.objects.filter(
        app="privacy", name__in=["0005_requester_notice", "0012_recipient_notice"]
    ).update(applied=timezone.now() - timezone.timedelta(days=730))


def fill_conversations(categories) -> None:
    """CONVERSATIONS conversations of OWNERS people (of one owner, PostgreSQL would count
    them through the owner's index), one in a hundred in the category never stored; a third
    idle for 400 days (past any window), the others for up to 19 days."""
    from governance.models import User

    owners = User.objects.bulk_create(
        User(email=f"bench-owner-{n}@example.com", password="!") for n in range(OWNERS)
    )
    now = timezone.now()
    batch = []
    for n in range(CONVERSATIONS):
        age = timezone.timedelta(days=400 if n % 3 == 0 else n % 20)
        batch.append(
            Conversation(
                owner=owners[n % OWNERS],
                category=categories[-1] if n % 100 == 0 else categories[n // 3 % 3],
                data_key_wrapped=b"\x00",
                created_at=now - age,
                last_activity_at=now - age,
            )
        )
        if len(batch) == 5_000:
            Conversation.objects.bulk_create(batch)
            batch = []
    Conversation.objects.bulk_create(batch)


def fill_closed(numbers, officer) -> None:
    """CLOSED closed requests over the past year; the first TO_TELL of them completed
    erasures whose receipts name providers not told yet."""
    now = timezone.now()
    rows = []
    for n in range(CLOSED):
        completed = now - timezone.timedelta(hours=3 * n + 1)
        received = timezone.localdate(completed) - timezone.timedelta(days=20)
        erasure = n < TO_TELL or n % 2
        rows.append(
            SubjectRequest(
                reference=f"DSR-B-{next(numbers):05}",
                kind=SubjectRequest.Kind.ERASURE if erasure else SubjectRequest.Kind.ACCESS,
                regime=SubjectRequest.Regime.GDPR,
                status=S.REJECTED if n >= TO_TELL and n % 17 == 5 else S.COMPLETED,
                received_on=received,
                due_on=received + timezone.timedelta(days=30),
                created_by=officer,
                created_at=completed - timezone.timedelta(days=20),
                completed_at=completed,
                receipt={"recipients": RECIPIENTS if n < TO_TELL else RECIPIENTS[2:]},
            )
        )
    SubjectRequest.objects.bulk_create(rows, batch_size=1_000)


def add_open(how_many: int, numbers, officers) -> None:
    """``how_many`` open requests in every state, due from ten days ago to six weeks on;
    a scoped one in three by the other officer (waiting for the viewer), an extended one
    in five, the receipt told for half."""
    today = timezone.localdate()
    rows = []
    for n in range(how_many):
        received = today - timezone.timedelta(days=n % 40)
        status = OPEN_STATES[n % len(OPEN_STATES)]
        rows.append(
            SubjectRequest(
                reference=f"DSR-B-{next(numbers):05}",
                kind=SubjectRequest.Kind.ERASURE if n % 2 else SubjectRequest.Kind.ACCESS,
                regime=SubjectRequest.Regime.CCPA if n % 4 == 1 else SubjectRequest.Regime.GDPR,
                status=status,
                received_on=received,
                due_on=received + timezone.timedelta(days=30 + (n % 11)),
                extended=n % 5 == 0,
                extended_at=timezone.now() if n % 5 == 0 else None,
                subject_user=officers[2] if n % 7 == 0 else None,
                created_by=officers[0],
                created_at=timezone.now() - timezone.timedelta(days=n % 40),
                scoped_by=(officers[1] if n % 3 else officers[0]) if status == S.SCOPED else None,
            )
        )
    created = SubjectRequest.objects.bulk_create(rows)
    RequesterNotice.objects.bulk_create(
        RequesterNotice(
            request=request,
            topic=RequesterNotice.Topic.RECEIPT,
            channel=RequesterNotice.Channel.EMAIL,
            told_on=request.received_on,
            recorded_by=officers[0],
        )
        for request in created[::2]
    )


def place_holds(officers) -> None:
    for n, conversation in enumerate(Conversation.objects.order_by("pk")[:HOLDS]):
        LegalHold.objects.create(
            conversation=conversation, reason=f"Case {n}", placed_by=officers[n % 2]
        )


def time_desk(client, open_count: int) -> None:
    """Wall time, and this process's CPU time (what rendering costs, steadier than the wall
    time on a shared machine), of RENDERS renders."""
    timings, cpu, queries = [], [], None
    for _ in range(RENDERS):
        with CaptureQueriesContext(connection) as captured:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get("/privacy/")
            timings.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, response.status_code
        queries = captured.captured_queries
    sql_ms = sum(float(q["time"]) for q in queries) * 1000
    print(
        f"desk, {open_count:>4} open: p50 {statistics.median(timings):6.1f} ms, "
        f"p95 {rank(timings, 0.95):6.1f} ms, CPU p50 {statistics.median(cpu):6.1f} ms "
        f"({RENDERS} renders); {len(queries)} queries, {sql_ms:.1f} ms of SQL; "
        f"{len(response.content) / 1024:.0f} KB of HTML"
    )


def time_left_behind() -> None:
    runs = list(PurgeRun.objects.order_by("-started_at")[:5])
    timings = []
    for _ in range(RENDERS):
        start = time.perf_counter()
        alarm, _run = purge.left_behind(recent_runs=runs)
        timings.append((time.perf_counter() - start) * 1000)
    print(
        f"purge.left_behind alone: p50 {statistics.median(timings):.1f} ms, "
        f"p95 {rank(timings, 0.95):.1f} ms ({'alarm' if alarm else 'no alarm'})"
    )


def profile_desk(client) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        client.get("/privacy/")
    profiler.disable()
    print("cProfile of 3 renders, by own time:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    print("by cumulative time:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(30)


def main() -> None:
    from django.test import Client

    from governance.roles import Role
    from tests.factories import make_category, make_user

    # Not setup_test_environment(): it instruments every template render (a signal, and
    # the test client keeps a copy of each context), which would weigh on the desk's
    # includes as no server's rendering does. The client names an allowed host instead.
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(f"database: {connection.vendor}; {python_speed()}")
        records_began_long_ago()
        officers = [
            make_user("bench-priya@example.com", Role.STAFF, Role.PRIVACY_OFFICER),
            make_user("bench-oscar@example.com", Role.PRIVACY_OFFICER),
            make_user("bench-staff@example.com", Role.STAFF),
        ]
        categories = [  # the demo's windows: 90, 30 and 7 days, and a category never stored
            make_category(number=n, slug=f"bench-{n}", name=f"Bench {n}", retention_days=days,
                          blocks_all=days is None)
            for n, days in enumerate([90, 30, 7, None], start=1)
        ]  # fmt: skip
        start = time.perf_counter()
        fill_conversations(categories)
        numbers = itertools.count(1)
        fill_closed(numbers, officers[1])
        place_holds(officers)
        PurgeRun.objects.create(
            status=PurgeRun.Status.DONE,
            started_at=timezone.now() - timezone.timedelta(days=3),
            finished_at=timezone.now() - timezone.timedelta(days=3),
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(
            f"filled {CONVERSATIONS:,} conversations, {CLOSED:,} closed requests "
            f"({TO_TELL} erasures with providers to tell) in {time.perf_counter() - start:.1f} s"
        )
        client = Client(HTTP_HOST="localhost")
        client.force_login(officers[0])
        client.get("/privacy/")  # warm: templates compiled, caches filled
        time_left_behind()
        added = 0
        for size in sorted(SIZES):
            add_open(size - added, numbers, officers)
            added = size
            time_desk(client, size)
        if "--profile" in sys.argv:
            profile_desk(client)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
