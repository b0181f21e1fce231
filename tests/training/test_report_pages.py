"""The training report over several pages: counted in the database, a page of people read.

It read every staff member into Python to work out their state, then showed a hundred:
1–2 s a view at 20,000 staff.
"""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.roles import Role
from tests.asked_here import asked
from tests.factories import make_user
from training import services, views
from training.models import PolicyDocument, QuizAttempt

PER_PAGE = 3


@pytest.fixture
def crowd(demo, publish, monkeypatch, settings):
    """Fourteen staff over five pages: acknowledged, in grace, overdue and never; quizzes."""
    settings.STEWARD_ACK_GRACE_DAYS = 7
    monkeypatch.setattr(views, "PEOPLE_PER_PAGE", PER_PAGE)
    people = [make_user(f"staff{n:02}@example.com", Role.STAFF) for n in range(10)]
    first = publish("Version 1", "One")
    for person in people[:7]:
        services.acknowledge(user=person, document=first)
    second = publish("Version 2", "Two")
    for person in people[:3]:
        services.acknowledge(user=person, document=second)
    third = publish("Version 3", "Three")
    services.acknowledge(user=people[0], document=third)
    services.acknowledge(user=demo.alice, document=third)
    PolicyDocument.objects.filter(pk=second.pk).update(
        published_at=timezone.now() - dt.timedelta(days=30)
    )  # who had version 1 only is overdue; who had 2, in grace for version 3
    for number, person in enumerate(people):
        QuizAttempt.objects.create(
            user=person, category_number=1 + number % 2, score=3, total=4, pass_percent=75,
            passed=number % 3 != 0, taken_at=timezone.now(),
        )  # fmt: skip
    return people


def _everyone_from_the_csv(client) -> dict[str, str]:
    rows = csv.DictReader(
        io.StringIO(client.get(asked(client, reverse("training:report_csv"))).content.decode())
    )
    return {row["email"]: row["status"] for row in rows}


def _walk(client, show: str = "") -> list[tuple[str, str]]:
    """Every page of the report (``show``: a tab), as (email, state) in the order shown."""
    shown, number = [], 1
    while True:
        response = client.get(reverse("training:report"), {"show": show, "page": number})
        shown += [(person.email, person.state) for person in response.context["people"]]
        if not response.context["page"].has_next():
            return shown
        number += 1


def test_the_counts_and_pages_are_the_whole_reports(client, demo, crowd):
    client.force_login(demo.aaron)
    everyone = _everyone_from_the_csv(client)
    assert len(everyone) == 15  # the demo's five staff and ten more
    words = {state: views.STATE_WORDS[state] for state in views.STATE_WORDS}
    walked = _walk(client)
    assert [email for email, _ in walked] == sorted(everyone)
    assert {email: words[state] for email, state in walked} == everyone
    states = [state for _, state in walked]
    assert states.count("done") == 2 and states.count("grace") == 2
    assert states.count("overdue") == 4 and states.count("missing") == 7
    pending = _walk(client, "pending")
    assert [email for email, _ in pending] == sorted(e for e, s in walked if s != "done")
    assert _walk(client, "done") == [(e, s) for e, s in walked if s == "done"]

    client.force_login(demo.paula)
    page = client.get(reverse("training:report"), {"page": 2}).content.decode()
    for words in (
        "Everyone (15)",
        "Not yet (13)",
        "Acknowledged (2)",
        "of 15 staff acknowledged",
        "Remind 13 people",
        "13%",
    ):
        assert words in page, words
    rates = {
        r["category"].number: r for r in client.get(reverse("training:report")).context["rates"]
    }
    assert (rates[1]["people"], rates[1]["passed"], rates[1]["attempts"]) == (5, 3, 5)
    assert (rates[2]["people"], rates[2]["passed"], rates[2]["attempts_passed"]) == (5, 3, 3)


def test_a_page_reads_a_page_of_people(client, demo, crowd):
    client.force_login(demo.aaron)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("training:report"), {"page": 2})
    assert len(response.context["people"]) == PER_PAGE
    people = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT")
        and '"governance_user"."email"' in q["sql"].split(" FROM ")[0]
    ]
    assert people and all("LIMIT" in sql for sql in people), people


def test_before_any_version_everyone_is_listed_and_nobody_is_pending(client, demo, monkeypatch):
    monkeypatch.setattr(views, "PEOPLE_PER_PAGE", 2)
    client.force_login(demo.paula)
    response = client.get(reverse("training:report"))
    page = response.content.decode()
    assert "Everyone (5)" in page and "Not yet (0)" in page and "Remind" not in page
    assert {person.state for person in response.context["people"]} == {"none"}
    assert response.context["percent_done"] == 0
    assert client.get(reverse("training:report"), {"show": "pending"}).context["people"] == []
