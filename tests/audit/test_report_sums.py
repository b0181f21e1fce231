"""The report's sums are the database's (GROUP BY), not a Python loop over every request:
the same figures, in the same order, on SQLite and PostgreSQL, and a long period costs
a handful of queries, added up by one viewer at a time."""

import datetime as dt
import random
import time
import types

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import chain, reports
from audit.models import AuditEvent
from tests.factories import make_chat_event

CATEGORIES = [(1, "Public"), (2, "Internal"), (3, "Confidential"), (4, "Restricted"), (2, "")]
BACKENDS = [("Local Ollama", "on_prem", "eu"), ("OpenAI", "external_api", "us"),
            ("Mistral", "external_api", "eu")]  # fmt: skip
FINDINGS = [{}, {"EMAIL_ADDRESS": 1}, {"PERSON": 2, "EMAIL_ADDRESS": 1}, {"rule Falcon": 1},
            {"EMAIL_ADDRESS": 3}, {"IBAN_CODE": 1, "PHONE_NUMBER": 2}]  # fmt: skip


def append(rows: list[dict]) -> None:
    """``rows`` (an event's fields but the chain's) appended to the trail as it chains them,
    at the times they say: the trail's own appends are stamped now."""
    newest = AuditEvent.objects.order_by("-sequence").values("sequence", "hash").first()
    sequence, prev = (newest["sequence"], newest["hash"]) if newest else (0, chain.GENESIS_HASH)
    events = []
    for row in rows:
        sequence += 1
        fields = {name: None for name in chain.CHAINED_FIELDS}
        fields.update(actor_label="test", request_id="", outcome="success", target_type="",
                      target_id="", target_repr="", category="", backend="", details={},
                      message="")  # fmt: skip
        fields.update(row, sequence=sequence)
        digest = chain.link_hash(prev, fields)
        fields.pop("actor_id")
        events.append(AuditEvent(**fields, prev_hash=prev, hash=digest))
        prev = digest
    AuditEvent.objects.bulk_create(events)


def varied_request(rng: random.Random, at: dt.datetime) -> dict:
    """A chat request as the chat path records it, or as older releases did (no decision, no
    hosting class or region), with the odd shapes a trail read back may hold."""
    number, category = rng.choice(CATEGORIES)
    backend, hosting, region = rng.choice(BACKENDS)
    decision = rng.choice(["allowed", "allowed", "pseudonymised", "escalated", "blocked"])
    details = {"category_number": number, "decision": decision, "hosting_class": hosting,
               "region": region, "findings": rng.choice(FINDINGS), "chars": 10}  # fmt: skip
    odd = rng.random()
    if odd < 0.05:
        del details["decision"]
    elif odd < 0.08:
        details["decision"] = ""
    elif odd < 0.11:
        del details["hosting_class"], details["region"]
    elif odd < 0.13:
        del details["findings"]
    elif odd < 0.15:
        details["category_number"] = 3.0  # not a whole number: not counted confidential
    elif odd < 0.16:
        details["category_number"] = "3"  # text: not counted confidential either
    elif odd < 0.17:
        details["category_number"] = True
    elif odd < 0.19:
        del details["category_number"]
    blocked = decision == "blocked"
    return {
        "occurred_at": at,
        "action": AuditEvent.Action.CHAT_REQUEST,
        "outcome": "blocked" if blocked else "success",
        "category": category,
        "backend": "" if blocked or odd > 0.98 else backend,
        "details": details,
    }


def varied_trail(rng: random.Random, days: int, per_day: int) -> None:
    """``per_day`` events on each of the ``days`` days before today and today (up to now),
    most of them chat requests, at times that cross the local and the UTC midnight."""
    now = timezone.now()
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min))
    start -= dt.timedelta(days=days)
    rows = []
    for day in range(days + 1):
        midnight = start + dt.timedelta(days=day)
        end = min(midnight + dt.timedelta(days=1), now)
        times = sorted(
            midnight + (end - midnight) * rng.random() for _ in range(per_day)
        )  # fmt: skip
        for at in times:
            if rng.random() < 0.8:
                rows.append(varied_request(rng, at))
            else:  # not chat requests: counted elsewhere or not at all
                rows.append(
                    {"occurred_at": at, "action": AuditEvent.Action.CHAT_RESPONSE,
                     "category": "Public", "backend": "OpenAI",
                     "details": {"category_number": 3, "hosting_class": "external_api"}}
                )  # fmt: skip
    append(rows)


def one_by_one(period: reports.Period) -> reports.Summary:
    """The period's chat requests added up one by one in Python, as the report did before
    the database added them up: what the sums must equal."""
    summary = reports.Summary(period)
    rows = (
        AuditEvent.objects.between(period.first_day, period.last_day)
        .filter(action=AuditEvent.Action.CHAT_REQUEST)
        .order_by("sequence")
        .values_list("sequence", "occurred_at", "category", "backend", "outcome", "details")
    )
    for sequence, occurred_at, category, backend, outcome, details in rows:
        details = details or {}
        decision = details.get("decision") or ("blocked" if outcome == "blocked" else "allowed")
        summary.requests += 1
        summary.decisions[decision] += 1
        day = timezone.localtime(occurred_at).date()
        summary.per_day_by_category[day][category or "—"] += 1
        for kind, count in (details.get("findings") or {}).items():
            summary.findings[kind] += count
            summary.findings_by_decision[decision][kind] += count
        if outcome != AuditEvent.Outcome.SUCCESS or not backend:
            continue
        hosting = details.get("hosting_class", "")
        summary.backends[backend] += 1
        summary.routes[(category, backend, hosting, details.get("region", ""))] += 1
        number = details.get("category_number")
        if isinstance(number, int) and number >= 3 and hosting == "external_api":
            summary.confidential_offprem_count += 1
            summary.confidential_offprem.append(
                {"sequence": sequence, "occurred_at": occurred_at, "category": category,
                 "backend": backend}
            )  # fmt: skip
    return summary


def figures(summary: reports.Summary) -> dict:
    """What a summary says, in the order it says it (ties in ``most_common`` keep the order
    keys were met in)."""
    return {
        "requests": summary.requests,
        "decisions": list(summary.decisions.items()),
        "per_day": [(day, list(c.items())) for day, c in summary.per_day_by_category.items()],
        "backends": list(summary.backends.items()),
        "findings": list(summary.findings.items()),
        "findings_by_decision": [
            (decision, list(c.items())) for decision, c in summary.findings_by_decision.items()
        ],
        "routes": list(summary.routes.items()),
        "confidential_offprem_count": summary.confidential_offprem_count,
        "confidential_offprem": summary.confidential_offprem,
        "lists": (summary.decision_list, summary.backend_list, summary.finding_list,
                  summary.findings_table, summary.route_list, summary.day_rows),
    }  # fmt: skip


@pytest.fixture
def far_from_utc(settings):
    """A time zone whose local days are not UTC's."""
    settings.TIME_ZONE = "Pacific/Auckland"
    with timezone.override("Pacific/Auckland"):
        yield


@pytest.fixture
def days_over_kept_once(monkeypatch):
    """Every run of days :func:`reports._add_up` adds up from the trail."""
    runs = []
    real = reports._add_up

    def counted(run, up_to):
        runs.append([d.day for d in run])
        return real(run, up_to)

    monkeypatch.setattr(reports, "_add_up", counted)
    return runs


def test_the_sums_equal_those_of_every_request_added_up_one_by_one(db, far_from_utc):
    varied_trail(random.Random(11), days=6, per_day=60)
    today = timezone.localdate()
    for first in (today - dt.timedelta(days=8), today - dt.timedelta(days=3), today):
        period = reports.Period(first, today)
        expected = figures(one_by_one(period))
        assert expected["requests"] and (expected["confidential_offprem_count"] or first == today)
        assert figures(reports.summarise(period, every_exception=True)) == expected
        # Again with the days that are over kept: read back, they say the same.
        assert figures(reports.summarise(period, every_exception=True)) == expected


def test_the_sums_of_days_over_read_back_and_of_today_added_up_equal_them_all(db, far_from_utc):
    varied_trail(random.Random(12), days=4, per_day=40)
    today = timezone.localdate()
    period = reports.Period(today - dt.timedelta(days=4), today)
    reports.summarise(period)
    append([varied_request(random.Random(13), timezone.now()) for _ in range(5)])
    assert figures(reports.summarise(period, every_exception=True)) == figures(one_by_one(period))


def test_a_period_cut_short_by_an_event_counts_up_to_it(db, far_from_utc):
    varied_trail(random.Random(14), days=3, per_day=30)
    today = timezone.localdate()
    period = reports.Period(today - dt.timedelta(days=3), today)
    middle = AuditEvent.objects.order_by("sequence")[50].sequence
    cut = reports.summarise(period, up_to=middle, every_exception=True)
    whole = reports.summarise(period, every_exception=True)
    assert cut.requests < whole.requests
    assert (
        cut.requests
        == AuditEvent.objects.filter(
            action=AuditEvent.Action.CHAT_REQUEST, sequence__lte=middle
        ).count()
    )


def test_an_event_stamped_on_another_day_than_its_neighbours_is_its_days_as_before(
    db, far_from_utc, days_over_kept_once
):
    """The clock was set back: an event among the second day's is stamped on the first.
    Each day's sum holds the events between its first and last (it is kept under the
    last's hash), and the request is counted on the day it is stamped, as before."""
    rng = random.Random(15)
    today = timezone.localdate()
    midnight = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    two_days_ago, yesterday = midnight - dt.timedelta(days=2), midnight - dt.timedelta(days=1)
    rows = [varied_request(rng, two_days_ago + dt.timedelta(hours=h)) for h in range(1, 5)]
    rows += [varied_request(rng, yesterday + dt.timedelta(hours=h)) for h in range(1, 3)]
    rows.append(varied_request(rng, two_days_ago + dt.timedelta(hours=20)))  # set back
    rows += [varied_request(rng, yesterday + dt.timedelta(hours=h)) for h in range(5, 8)]
    append(rows)
    period = reports.Period(today - dt.timedelta(days=2), today - dt.timedelta(days=1))
    summary = reports.summarise(period, every_exception=True)
    assert figures(summary) == figures(one_by_one(period))
    days, _ = reports._days_with_events(period)
    assert [part.requests for part in reports._day_parts(days, None)] == [4, 6]
    assert summary.per_day_by_category.keys() == {
        today - dt.timedelta(days=2),
        today - dt.timedelta(days=1),
    }
    assert days_over_kept_once == [[today - dt.timedelta(days=2), today - dt.timedelta(days=1)]]


def test_a_years_summary_takes_no_more_queries_than_a_weeks(db):
    """One query per day looked up where each day's events start (366 round trips a year),
    and one more read each day's requests that was not kept."""
    varied_trail(random.Random(16), days=3, per_day=10)
    today = timezone.localdate()
    counts = []
    for days in (7, 366):
        cache.clear()
        period = reports.Period(today - dt.timedelta(days=days - 1), today)
        with CaptureQueriesContext(connection) as cold:
            reports.summarise(period)
        make_chat_event()  # today's figures change; the days over are kept
        with CaptureQueriesContext(connection) as warm:
            reports.summarise(period)
        counts.append((len(cold), len(warm)))
    assert counts[0] == counts[1]
    assert counts[0][0] <= 13 and counts[0][1] <= 9


def test_days_missing_from_the_cache_are_added_up_together(db, days_over_kept_once):
    varied_trail(random.Random(17), days=5, per_day=10)
    today = timezone.localdate()
    period = reports.Period(today - dt.timedelta(days=5), today)
    reports.summarise(period)
    assert days_over_kept_once == [[today - dt.timedelta(days=d) for d in range(5, 0, -1)], [today]]


# --- one viewer at a time ------------------------------------------------------------------


class _SharedCache:
    """The cache as :mod:`audit.reports` sees it, with another viewer using it too."""

    def __init__(self, viewer):
        self.viewer = viewer

    def __getattr__(self, name):
        return getattr(cache, name)

    def add(self, key, value, *args, **kwargs):
        if key.startswith("audit:computing:") and self.viewer.lock is None:
            self.viewer.lock = key
            cache.add(key, "theirs", 60)
        return cache.add(key, value, *args, **kwargs)


@pytest.fixture
def another_viewer(monkeypatch):
    """Another viewer took the lock of the first thing computed, and finishes while this one
    waits the first time: it keeps what ``keeps()`` gives (nothing unless told)."""
    viewer = types.SimpleNamespace(keeps=dict, waits=0, lock=None)

    def sleep(_seconds):
        viewer.waits += 1
        cache.set_many(viewer.keeps())
        cache.delete(viewer.lock)

    monkeypatch.setattr(reports, "cache", _SharedCache(viewer))
    monkeypatch.setattr(
        reports, "time", types.SimpleNamespace(sleep=sleep, monotonic=time.monotonic)
    )
    return viewer


def test_a_viewer_waits_for_what_another_is_adding_up(db, another_viewer):
    computed = []
    another_viewer.keeps = lambda: {"audit:test:a": 1, "audit:test:b": 2}
    values = reports._computed_once(
        ["audit:test:a", "audit:test:b"], lambda: computed.append(1) or {}, 60
    )
    assert values == {"audit:test:a": 1, "audit:test:b": 2}
    assert computed == [] and another_viewer.waits == 1


def test_a_viewer_adds_up_itself_when_the_other_one_kept_nothing(db, another_viewer):
    values = reports._computed_once(["audit:test:a"], lambda: {"audit:test:a": 3}, 60)
    assert values == {"audit:test:a": 3} and cache.get("audit:test:a") == 3
    assert another_viewer.waits == 1
    assert cache.get(another_viewer.lock) is None  # let go


def test_a_report_asked_for_while_another_adds_up_its_days_reads_their_sums(
    db, another_viewer, days_over_kept_once, monkeypatch
):
    varied_trail(random.Random(18), days=3, per_day=10)
    today = timezone.localdate()
    period = reports.Period(today - dt.timedelta(days=3), today - dt.timedelta(days=1))
    theirs = {}
    with monkeypatch.context() as patch:  # what the other viewer keeps: the same sums
        patch.setattr(
            reports, "_computed_once", lambda keys, compute, _: theirs.update(compute()) or theirs
        )
        reports.summarise(period)
    assert theirs and days_over_kept_once
    cache.clear()
    days_over_kept_once.clear()
    another_viewer.keeps = lambda: theirs
    summary = reports.summarise(period)
    assert days_over_kept_once == []  # nothing read from the trail: their sums were taken
    assert another_viewer.waits == 1
    assert figures(summary) == figures(one_by_one(period))
