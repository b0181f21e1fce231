"""Training at scale: the acknowledgement gate the chat asks on every message, and the report.

Runs against a throw-away database (test_<name>) on whatever DATABASE_URL
points at. BENCH_TRAINING_STAFF people (default 5,000) are filled in; all
acknowledged version 1, half of them version 2, and each took two quizzes.

Prints: the gate's cost per call (p50/p99 ms, queries) before any policy is
published and after (for people who acknowledged the current version, and for
people within the grace period), and the server time of the report page and its CSV
export for that many people. First, with no database: the time to diff two versions of
a policy document of 2,000, 4,000 and 20,000 lines (a blank line between paragraphs,
every tenth paragraph edited), as the editor, the version page, the acknowledge page and
publishing do, and again from the cache; BENCH_TRAINING_OLD_TEXT=path/to/text.py times
another copy of training/text.py the same way, up to 4,000 lines (before:
`git show REV:training/text.py`; difflib on 20,000 lines never finished).
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from governance.models import User  # noqa: E402
from governance.policy_cache import read_version  # noqa: E402
from governance.roles import Role  # noqa: E402
from training import services  # noqa: E402
from training.models import Acknowledgement, PolicyDocument, QuizAttempt  # noqa: E402

STAFF = int(os.environ.get("BENCH_TRAINING_STAFF", 5_000))
CALLS = 2_000


def fill(admin: User) -> list[User]:
    users = User.objects.bulk_create(
        User(email=f"staff{n}@example.com", full_name=f"Staff {n}", password="!")
        for n in range(STAFF)
    )
    staff_group = Group.objects.get(name=Role.STAFF.group_name)
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=u.pk, group_id=staff_group.pk) for u in users
    )
    now = timezone.now()
    v1 = PolicyDocument.objects.create(
        version=1, body="v1", status="published", published_at=now, published_by=admin
    )
    v2 = PolicyDocument.objects.create(
        version=2, body="v2", status="published", published_at=now, published_by=admin
    )
    Acknowledgement.objects.bulk_create(
        Acknowledgement(user=u, document=v1, acknowledged_at=now) for u in users
    )
    Acknowledgement.objects.bulk_create(
        Acknowledgement(user=u, document=v2, acknowledged_at=now) for u in users[::2]
    )
    QuizAttempt.objects.bulk_create(
        QuizAttempt(user=u, category_number=n, score=3, total=4, pass_percent=75,
                    passed=(u.pk + n) % 3 != 0, taken_at=now)
        for u in users for n in (1, 2)
    )  # fmt: skip
    return users


def gate(users: list[User]) -> tuple[float, float, float]:
    """p50 and p99 ms of needs_acknowledgement(), and queries per call (warm cache), given
    the policy version the chat path has read anyway (for its decision)."""
    versions = [read_version(user.pk) for user in users]
    services.needs_acknowledgement(users[0], versions[0])
    timings = []
    with CaptureQueriesContext(connection) as queries:
        for n in range(CALLS):
            start = time.perf_counter()
            services.needs_acknowledgement(users[n % len(users)], versions[n % len(users)])
            timings.append(time.perf_counter() - start)
    timings.sort()
    return (
        statistics.median(timings) * 1000,
        timings[int(len(timings) * 0.99)] * 1000,
        len(queries) / CALLS,
    )


def page(client: Client, path: str) -> float:
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        response = client.get(path)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return statistics.median(timings) * 1000


def policy_versions(lines: int) -> tuple[str, str]:
    """Two versions of ``lines`` lines: a blank line between paragraphs, every tenth edited."""
    old = "\n".join("" if n % 2 else f"Paragraph {n} of the policy." for n in range(lines))
    new = "\n".join(
        "" if n % 2 else f"Paragraph {n} of the {'new ' if n % 20 == 0 else ''}policy."
        for n in range(lines)
    )
    return old, new


def diffs() -> None:
    import importlib.util

    from training import text

    modules = [("now", text)]
    if path := os.environ.get("BENCH_TRAINING_OLD_TEXT"):
        spec = importlib.util.spec_from_file_location("old_text", path)
        old_text = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old_text)
        modules.insert(0, (path, old_text))
    for label, module in modules:
        for lines in (2_000, 4_000) if module is not text else (2_000, 4_000, 20_000):
            old, new = policy_versions(lines)
            start = time.perf_counter()
            module.diff_lines(old, new)
            first = time.perf_counter() - start
            start = time.perf_counter()
            module.diff_lines(old, new)
            again = time.perf_counter() - start
            print(f"diff of {lines:,} lines ({len(new) // 1024} KB), {label}: "
                  f"{first * 1000:,.1f} ms, again {again * 1000:,.2f} ms", flush=True)  # fmt: skip


def main() -> None:
    from django.test.utils import setup_test_environment

    diffs()

    from tests.factories import make_category, make_user

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        for number, slug in enumerate(("public", "internal", "confidential", "prohibited"), 1):
            make_category(number=number, slug=slug, name=slug.title())
        admin = make_user("bench-admin@example.com", Role.POLICY_ADMIN)
        users = list(User.objects.filter(pk=admin.pk))
        p50, p99, per_call = gate(users)
        print(f"database: {connection.vendor}; {STAFF:,} staff")
        print(f"gate, nothing published: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
              f"{per_call:.1f} queries per call")  # fmt: skip
        users = fill(admin)
        for label, group in (("acknowledged it", users[::2]), ("in grace", users[1::2])):
            p50, p99, per_call = gate(group)
            print(f"gate, version 2 published, {label}: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
                  f"{per_call:.1f} queries per call")  # fmt: skip
        client = Client()
        client.force_login(admin)
        print(
            f"report page for {STAFF:,} people: median {page(client, '/training/report/'):.0f} ms"
        )
        print(
            f"report CSV for {STAFF:,} people: median {page(client, '/training/report.csv'):.0f} ms"
        )
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
