"""What the chat requests of a period add up to: the dashboard's charts and the compliance report.

One pass over the period's ``chat.request`` events (metadata only).
"""

import datetime as dt
import functools
import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Max, Min, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import TruncDate
from django.utils import timezone

from audit.models import AuditEvent, events_from
from config.downloads import local_time
from governance.policy import HOSTING_LABELS, finding_name

CONFIDENTIAL_NUMBER = 3  # and above: confidential and restricted data
EXTERNAL = "external_api"
#: Exceptions the report's page lists (its downloads list every one).
EXCEPTIONS_SHOWN = 200
#: Kinds of a backend-stage chat.failure that are Steward's own doing, not the backend's.
STEWARD_FAILURE_KINDS = ("internal", "expired")
#: How long a period's summary is kept for the page's chart images (and a reload).
SUMMARY_CACHE_SECONDS = 300
#: How long the sum of a day that is over is kept (it never changes; reports reach back a year).
DAY_CACHE_SECONDS = 400 * 24 * 3600
#: Raise it when what a day's sum counts changes: sums kept by the release before are not read.
SUMS_VERSION = 1


@dataclass
class Period:
    first_day: dt.date
    last_day: dt.date

    @property
    def days(self) -> list[dt.date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + dt.timedelta(days=i) for i in range(count)]


@dataclass
class Summary:
    period: Period
    requests: int = 0
    decisions: Counter = field(default_factory=Counter)
    per_day_by_category: dict[dt.date, Counter] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    backends: Counter = field(default_factory=Counter)
    findings: Counter = field(default_factory=Counter)
    findings_by_decision: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    routes: Counter = field(default_factory=Counter)  # (category, backend, hosting, region)
    confidential_offprem: list[dict] = field(default_factory=list)
    confidential_offprem_count: int = 0
    failures: int = 0  # the backends' own: not the scanner's, the policy's or a worker's
    #: Data-subject requests closed in the period: reference, kind, due and closed days, lateness.
    subject_requests: list[dict] = field(default_factory=list)

    @property
    def subject_requests_late(self) -> list[dict]:
        return [request for request in self.subject_requests if request["days_late"]]

    @property
    def subject_requests_told_late(self) -> list[dict]:
        """Closed requests whose requester was told something after its day."""
        return [request for request in self.subject_requests if request["told_late"]]

    @property
    def subject_requests_outcome_untold(self) -> list[dict]:
        """Closed requests with no record that the requester was told the outcome (of those
        closed since Steward records it)."""
        return [
            request
            for request in self.subject_requests
            if not request["outcome_told"] and not request["closed_before_records"]
        ]

    @property
    def subject_requests_closed_before_records(self) -> int:
        """Closed before Steward recorded what requesters were told: nothing to say of them."""
        return sum(request["closed_before_records"] for request in self.subject_requests)

    @property
    def exceptions_cut_short(self) -> bool:
        return len(self.confidential_offprem) < self.confidential_offprem_count

    # Templates look attributes up as dict keys first, which Counter and
    # defaultdict answer for any name: they get plain lists instead.
    @property
    def decision_list(self) -> list[tuple[str, int]]:
        return self.decisions.most_common()

    @property
    def route_list(self) -> list[tuple[tuple[str, str, str, str], int]]:
        return sorted(self.routes.items())

    @property
    def findings_table(self) -> list[tuple[str, list[tuple[str, int]]]]:
        return [(d, c.most_common()) for d, c in sorted(self.findings_by_decision.items())]

    @property
    def categories(self) -> list[str]:
        names = {name for day in self.per_day_by_category.values() for name in day}
        return sorted(names)

    @property
    def day_rows(self) -> list[tuple[dt.date, list[int], int]]:
        """Each day of the period: its requests per category (in :attr:`categories`'
        order) and in all."""
        names = self.categories
        rows = []
        for day in self.period.days:
            counts = self.per_day_by_category.get(day, Counter())
            rows.append((day, [counts[name] for name in names], sum(counts.values())))
        return rows

    @property
    def backend_list(self) -> list[tuple[str, int]]:
        return self.backends.most_common()

    @property
    def finding_list(self) -> list[tuple[str, int]]:
        return [(finding_name(kind), count) for kind, count in self.findings.most_common()]


def summary_as_of(period: Period, sequence: int) -> Summary:
    """:func:`summarise` of the trail up to event #``sequence``, kept a few minutes.

    The dashboard and each of its four chart images (separate requests) ask for it with
    the sequence the page was drawn at: the period is added up once, and the charts show
    what the page's figures say while new events keep coming. A newer event makes a new
    key, so a later page view never gets figures older than its own.
    """
    tz = timezone.get_current_timezone_name()  # days are local days
    key = f"audit:summary:{_sums_version()}:{period.first_day}:{period.last_day}:{sequence}:{tz}"
    summary = cache.get(key)
    if summary is None:
        summary = _computed_once(
            [key], lambda: {key: summarise(period, up_to=sequence)}, SUMMARY_CACHE_SECONDS
        )[key]
    return summary


@functools.cache
def _sums_version() -> str:
    """:data:`SUMS_VERSION` and the shape of :class:`Summary`: a field added or renamed
    makes new keys by itself (a kept sum without it would fail when read)."""
    shape = ",".join(f.name for f in fields(Summary))
    return f"{SUMS_VERSION}.{hashlib.sha256(shape.encode()).hexdigest()[:8]}"


def summarise(
    period: Period, *, every_exception: bool = False, up_to: int | None = None
) -> Summary:
    """The period's chat requests added up (``up_to``: only events up to that sequence).
    Confidential requests sent off-premise are all counted, and the first
    :data:`EXCEPTIONS_SHOWN` listed (``every_exception``: all)."""
    summary = Summary(period)
    kept = None if every_exception else EXCEPTIONS_SHOWN
    days, events = _days_with_events(period)
    if up_to is not None:
        events = events.filter(sequence__lte=up_to)
    summary.failures = (
        events.filter(action=AuditEvent.Action.CHAT_FAILURE, details__stage="backend")
        .exclude(details__kind__in=STEWARD_FAILURE_KINDS)
        .count()
    )
    summary.subject_requests = _subject_requests_closed(events)
    for part in _day_parts(days, up_to):
        _merge(summary, part, kept)
    return summary


class _Day(NamedTuple):
    """A local day's events: the sequence of its first and of its last."""

    day: dt.date
    first: int
    last: int


def _days_with_events(period: Period) -> tuple[list[_Day], QuerySet]:
    """The period's days that have events, and the period's events (as
    :meth:`~audit.models.AuditEventQuerySet.between` has them), from one query."""
    days = period.days
    after = period.last_day + dt.timedelta(1) if period.last_day < dt.date.max else None
    firsts, head = _first_sequences_from(days + ([after] if after else []))
    if after is None:
        firsts.append(None)  # no event is after the calendar's last day
    with_events = []
    for day, first, beyond in zip(days, firsts, firsts[1:], strict=False):
        if first is None:
            break  # no event from this day on
        if beyond != first:  # else none on this day
            with_events.append(_Day(day, first, beyond - 1 if beyond is not None else head))
    events = AuditEvent.objects.all()
    events = events.filter(sequence__gte=firsts[0]) if firsts[0] else events.none()
    if firsts[-1]:
        events = events.filter(sequence__lt=firsts[-1])
    return with_events, events


#: Days whose first events one query looks up (each is a parameter: SQLite took 999 at most).
DAYS_PER_QUERY = 400


def _first_sequences_from(days: list[dt.date]) -> tuple[list[int | None], int | None]:
    """The first event's sequence on or after each of ``days``, and the newest
    event's sequence: a query for up to :data:`DAYS_PER_QUERY` days, where a year's
    report made one per day (366 round trips). Each day is an indexed look-up, a
    subquery of the query that reads the newest event (no row: no event at all)."""
    firsts, head = [], None
    for start in range(0, len(days), DAYS_PER_QUERY):
        chunk = days[start : start + DAYS_PER_QUERY]
        names = [f"from_{i}" for i in range(len(chunk))]
        row = (
            AuditEvent.objects.order_by("-sequence")
            .annotate(
                **{
                    name: Subquery(events_from(day).values("sequence")[:1])
                    for name, day in zip(names, chunk)
                }
            )
            .values_list("sequence", *names)
            .first()
        )
        head, *found = row or [None] * (len(chunk) + 1)
        firsts += found
    return firsts, head


def _day_parts(days: list[_Day], up_to: int | None) -> list[Summary]:
    """The chat requests of ``days`` added up a local day at a time.

    A day that is over never changes (the trail is append-only): its sum is kept
    :data:`DAY_CACHE_SECONDS` under the hash of its last event, which the whole chain up
    to that event decides, so a sum is never read for other events than its own. Only
    today, and a day that ``up_to`` cuts short, are added up from the trail each time.
    The days not kept are added up together, one viewer at a time (:func:`_computed_once`).
    """
    today = timezone.localdate()
    tz = timezone.get_current_timezone_name()
    over = [d for d in days if d.day < today and (up_to is None or d.last <= up_to)]
    last_hashes = dict(
        AuditEvent.objects.filter(sequence__in=[d.last for d in over]).values_list(
            "sequence", "hash"
        )
    )
    keys = {
        d.day: f"audit:day:{_sums_version()}:{d.day}:{tz}:{last_hashes[d.last]}"
        for d in over
        if d.last in last_hashes
    }
    parts = _kept_parts(keys, cache.get_many(list(keys.values())))
    missing = [d for d in days if d.day in keys and d.day not in parts]
    if missing:

        def add_up_missing() -> dict[str, Summary]:
            return {keys[day]: part for day, part in _added_up(missing, up_to).items()}

        kept = _computed_once([keys[d.day] for d in missing], add_up_missing, DAY_CACHE_SECONDS)
        parts |= _kept_parts(keys, kept)
    parts |= _added_up([d for d in days if d.day not in keys], up_to)
    return [parts[d.day] for d in days]


def _kept_parts(keys: dict[dt.date, str], kept: dict[str, Summary]) -> dict[dt.date, Summary]:
    return {day: kept[key] for day, key in keys.items() if key in kept}


#: How long a viewer waits for another one adding up the same days before doing it too.
WAIT_SECONDS = 60
WAIT_STEP_SECONDS = 0.1


def _computed_once(
    keys: list[str], compute: Callable[[], dict[str, object]], timeout: int
) -> dict[str, object]:
    """``compute()``'s values of ``keys``, kept ``timeout`` seconds; computed by one viewer
    at a time: while another computes the same keys (it holds their lock), wait for what
    it keeps. Several auditors opening a year's dashboard at once added it up once each,
    side by side."""
    lock = "audit:computing:" + hashlib.sha256("|".join(keys).encode()).hexdigest()
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if cache.add(lock, 1, WAIT_SECONDS):
            try:
                values = compute()
                cache.set_many(values, timeout)
            finally:
                cache.delete(lock)
            return values
        while cache.get(lock) is not None and time.monotonic() < deadline:
            time.sleep(WAIT_STEP_SECONDS)
            kept = cache.get_many(keys)
            if len(kept) == len(keys):
                return kept
        # The other viewer gave up, or what it kept is gone already: take the lock.
    return compute()  # the other viewer is stuck: not forever


def _added_up(days: list[_Day], up_to: int | None) -> dict[dt.date, Summary]:
    """:func:`_add_up` of each run of ``days`` that follow one another in the trail."""
    runs: list[list[_Day]] = []
    for day in days:
        if runs and runs[-1][-1].last + 1 == day.first:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = {}
    for run in runs:
        parts |= _add_up(run, up_to)
    return parts


def _add_up(run: list[_Day], up_to: int | None) -> dict[dt.date, Summary]:
    """The chat requests of ``run`` (days whose events follow one another in the trail)
    added up, each day on its own, every exception listed.

    The database adds them up, grouped by local day: one query for the run, and one more
    for the exceptions if there are any, where every request's details were read and
    added up in Python (a year's report: 8.6 s at a million events). Each day's sum
    holds its own events, those between its first and its last: an event whose time
    falls on another day (the clock was set back) makes each day be added up on its own.
    """
    bounds = {d.day: (d.first, d.last) for d in run}
    parts = {day: Summary(Period(day, day)) for day in bounds}

    def part_on(day: dt.date) -> Summary:
        return parts.setdefault(day, Summary(Period(day, day)))

    spans = _sum_into(part_on, _chat_requests(run[0].first, run[-1].last, up_to))
    if all(
        day in bounds and bounds[day][0] <= first and last <= bounds[day][1]
        for day, (first, last) in spans.items()
    ):
        return parts
    parts = {}
    for d in run:
        part = parts[d.day] = Summary(Period(d.day, d.day))
        _sum_into(lambda _day, part=part: part, _chat_requests(d.first, d.last, up_to))
    return parts


def _chat_requests(first: int, last: int, up_to: int | None) -> QuerySet:
    events = AuditEvent.objects.filter(
        action=AuditEvent.Action.CHAT_REQUEST, sequence__gte=first, sequence__lte=last
    )
    return events if up_to is None else events.filter(sequence__lte=up_to)


def _sum_into(
    part_on: Callable[[dt.date], Summary], events: QuerySet
) -> dict[dt.date, tuple[int, int]]:
    """``events`` (chat requests) added to the sums ``part_on`` gives for their local days;
    the first and last event of each day.

    One query groups the requests by what the summary counts them by. The groups are
    taken in the order of their first events, so each counter meets its keys in the order
    of the trail (the order of ties in ``most_common``), as when the events were added up
    one by one."""
    groups = (
        events.order_by()
        .values(
            "category",
            "backend",
            "outcome",
            day=TruncDate("occurred_at"),  # in the current time zone
            decision=KeyTextTransform("decision", "details"),
            hosting=KeyTextTransform("hosting_class", "details"),
            region=KeyTextTransform("region", "details"),
            number=KeyTransform("category_number", "details"),
            findings=KeyTransform("findings", "details"),
        )
        .annotate(count=Count("*"), first=Min("sequence"), last=Max("sequence"))
    )
    spans, exceptions = {}, False
    for group in sorted(_hashed(groups), key=lambda group: group["first"]):
        day, count = group["day"], group["count"]
        outcome, backend = group["outcome"], group["backend"]
        first, last = spans.get(day, (group["first"], group["last"]))
        spans[day] = (min(first, group["first"]), max(last, group["last"]))
        part = part_on(day)
        decision = _decision(group["decision"], outcome)
        part.requests += count
        part.decisions[decision] += count
        part.per_day_by_category[day][group["category"] or "—"] += count
        for kind, found in (group["findings"] or {}).items():
            part.findings[kind] += found * count
            part.findings_by_decision[decision][kind] += found * count
        if outcome != AuditEvent.Outcome.SUCCESS or not backend:
            continue
        hosting = group["hosting"] or ""
        part.backends[backend] += count
        part.routes[(group["category"], backend, hosting, group["region"] or "")] += count
        # A group's number stands for several (3 and 3.0 are one): the rows tell which.
        exceptions |= hosting == EXTERNAL and _at_least(group["number"], CONFIDENTIAL_NUMBER)
    if exceptions:
        _list_exceptions(part_on, events)
    return spans


def _hashed(groups: QuerySet) -> list[dict]:
    """``groups`` read, on PostgreSQL grouped in a hash table, not by sorting every row.

    PostgreSQL cannot tell how few groups the details' keys make (it guesses one per
    row), so it sorted a year's requests on disk to group them: 1.1 s for 200,000, where
    hashing them takes 0.3 s. The hash table stays as small as the groups are (and
    spills to disk past ``work_mem``, as a sort would). ``groups`` must need no other
    sort: one would now look so costly that PostgreSQL compiled the query (JIT, 0.3 s)."""
    if connection.vendor != "postgresql":
        return list(groups)
    outer = connection.in_atomic_block
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        rows = list(groups)
        if outer:  # it would last as long as the caller's transaction
            cursor.execute("SET LOCAL enable_sort = on")
    return rows


def _list_exceptions(part_on: Callable[[dt.date], Summary], events: QuerySet) -> None:
    """The confidential requests among ``events`` that went off premise, counted and listed
    one by one, read as they were before the database added requests up (a category's
    number is a whole number: 3.0 and "3" are not)."""
    rows = (
        events.filter(
            outcome=AuditEvent.Outcome.SUCCESS,
            details__hosting_class=EXTERNAL,
            # Also text and other JSON, which sort above numbers: checked one by one below.
            details__category_number__gte=CONFIDENTIAL_NUMBER,
        )
        .exclude(backend="")
        .order_by("sequence")
        .values_list(
            "sequence",
            "occurred_at",
            "category",
            "backend",
            TruncDate("occurred_at"),
            "details",
        )
    )
    for sequence, occurred_at, category, backend, day, details in rows:
        number = details.get("category_number")
        if isinstance(number, int) and number >= CONFIDENTIAL_NUMBER:
            part = part_on(day)
            part.confidential_offprem_count += 1
            part.confidential_offprem.append(
                {"sequence": sequence, "occurred_at": occurred_at, "category": category,
                 "backend": backend}
            )  # fmt: skip


def _decision(decision: str | None, outcome: str) -> str:
    """What was decided on a request: events older than the details' decision have none."""
    return decision or ("blocked" if outcome == AuditEvent.Outcome.BLOCKED else "allowed")


def _at_least(number, least: int) -> bool:
    return isinstance(number, int | float) and number >= least


def _merge(summary: Summary, part: Summary, kept: int | None) -> None:
    """Add a day's sum to the period's, listing at most ``kept`` exceptions in all."""
    summary.requests += part.requests
    summary.decisions.update(part.decisions)
    for day, counts in part.per_day_by_category.items():
        summary.per_day_by_category[day].update(counts)
    summary.backends.update(part.backends)
    summary.findings.update(part.findings)
    for decision, counts in part.findings_by_decision.items():
        summary.findings_by_decision[decision].update(counts)
    summary.routes.update(part.routes)
    summary.confidential_offprem_count += part.confidential_offprem_count
    room = None if kept is None else max(0, kept - len(summary.confidential_offprem))
    summary.confidential_offprem.extend(part.confidential_offprem[:room])


def _subject_requests_closed(events) -> list[dict]:
    """The period's completed and rejected data-subject requests, each against the due date
    its last receipt or extension event set (GDPR Art. 12(3); CCPA regulations ask larger
    businesses to publish how many were answered and how fast), with what the requester was
    told late and whether they were told the outcome (``dsr.told``, at any time)."""
    closed = list(
        events.filter(action__in=(AuditEvent.Action.DSR_EXECUTED, AuditEvent.Action.DSR_REJECTED))
        .order_by("sequence")
        .values_list("target_id", "target_repr", "occurred_at", "action", "details")
    )
    due, told_late, outcome_told = {}, defaultdict(list), set()
    for target_id, action, details in (
        AuditEvent.objects.filter(
            action__in=(
                AuditEvent.Action.DSR_RECEIVED,
                AuditEvent.Action.DSR_EXTENDED,
                AuditEvent.Action.DSR_TOLD,
            ),
            target_id__in=[row[0] for row in closed],
        )
        .order_by("sequence")
        .values_list("target_id", "action", "details")
    ):
        details = details or {}
        if action == AuditEvent.Action.DSR_TOLD:
            if details.get("late"):
                told_late[target_id].append(details.get("topic", ""))
            if details.get("topic") == "outcome":
                outcome_told.add(target_id)
        elif details.get("due_on"):
            due[target_id] = dt.date.fromisoformat(details["due_on"])
    from privacy.notices import recorded_since  # privacy builds on audit, not the reverse

    since = recorded_since()
    requests = []
    for target_id, reference, occurred_at, action, details in closed:
        closed_on = timezone.localtime(occurred_at).date()
        due_on = due.get(target_id)
        requests.append(
            {
                "reference": reference,
                "kind": (details or {}).get("kind", ""),
                "outcome": "rejected" if action == AuditEvent.Action.DSR_REJECTED else "answered",
                "due_on": due_on,
                "closed_on": closed_on,
                "days_late": max(0, (closed_on - due_on).days) if due_on else 0,
                "told_late": told_late[target_id],
                "outcome_told": target_id in outcome_told,
                "closed_before_records": since is not None and occurred_at < since,
            }
        )
    return requests


class TrailStart(NamedTuple):
    """The trail's oldest event kept: nothing before its day can be counted."""

    sequence: int
    day: dt.date


def trail_start() -> TrailStart | None:
    """Where the trail begins (None: it holds no event). Steward was installed then, or the
    retention rule pruned what came before: either way, a report of earlier days finds
    nothing, and must not read as if nothing happened."""
    # The earliest by time, along its index: a clock once set back put an older time on a
    # later event, and the days are counted by time.
    first = (
        AuditEvent.objects.order_by("occurred_at", "sequence")
        .values_list("sequence", "occurred_at")
        .first()
    )
    if first is None:
        return None
    return TrailStart(first[0], timezone.localtime(first[1]).date())


def report_rows(
    summary: Summary,
    *,
    generated_at: dt.datetime | None = None,
    starts: TrailStart | None = None,
) -> list[dict]:
    """The compliance report flattened for CSV / JSON download: one row per statement.

    ``section`` and ``key`` are codes that stay the same from release to release, for
    programs and for comparing periods; ``label`` says the row in the report page's words,
    for the person who opens the file in a spreadsheet. ``generated_at``, as the printed
    page says it: a period that takes in today has more requests to come. ``starts``: the
    trail's first day, said when the period begins before it (those days were not counted)."""
    p = summary.period
    rows = [
        _row("period", "from", "Period from", p.first_day.isoformat()),
        _row("period", "to", "Period to", p.last_day.isoformat()),
        _row("period", "time_zone", "Time zone of the days", settings.TIME_ZONE),
    ]
    if generated_at is not None:
        rows.append(_row("period", "generated_at", "Generated at", local_time(generated_at)))
    if starts is not None and starts.day > p.first_day:
        rows.append(
            _row("period", "trail_starts",
                 f"The audit trail begins on this day (event #{starts.sequence}): "
                 "days of the period before it were not counted", starts.day.isoformat())
        )  # fmt: skip
    rows += [
        _row("totals", "requests", "Chat requests", summary.requests),
        _row("totals", "failures", "Backend failures", summary.failures),
    ]
    rows += [
        _row("decisions", decision, f"Requests {decision}", count)
        for decision, count in sorted(summary.decisions.items())
    ]
    for (category, backend, hosting, region), count in sorted(summary.routes.items()):
        where = f"{HOSTING_LABELS.get(hosting, hosting)}, {region or 'region not recorded'}"
        rows.append(
            _row("routing", f"{category} → {backend} ({hosting}, {region or '?'})",
                 f"Sent from {category} to {backend} ({where})", count)
        )  # fmt: skip
    rows.append(
        _row("confidential_off_premise", "count",
             "Confidential data that reached an external backend (exceptions)",
             summary.confidential_offprem_count)
    )  # fmt: skip
    rows += [
        _row("confidential_off_premise", f"event #{e['sequence']}",
             f"Exception: event #{e['sequence']}, {local_time(e['occurred_at'])}",
             f"{e['category']} → {e['backend']}")
        for e in summary.confidential_offprem
    ]  # fmt: skip
    rows += [
        _row("subject_requests", "closed", "Data-subject requests closed",
             len(summary.subject_requests)),
        _row("subject_requests", "late", "Data-subject requests closed late",
             len(summary.subject_requests_late)),
        _row("subject_requests", "closed_before_telling_was_recorded",
             "Data-subject requests closed before Steward recorded what requesters were told",
             summary.subject_requests_closed_before_records),
    ]  # fmt: skip
    rows += [
        _row("subject_requests_late", r["reference"], f"Closed late: {r['reference']}",
             f"{r['outcome']} {r['days_late']} days late (due {r['due_on']})")
        for r in summary.subject_requests_late
    ]  # fmt: skip
    rows += [
        _row("subject_requests_told_late", r["reference"],
             f"Requester told something after its day: {r['reference']}",
             ", ".join(r["told_late"]))
        for r in summary.subject_requests_told_late
    ]  # fmt: skip
    rows += [
        _row("subject_requests_outcome_not_recorded_as_told", r["reference"],
             f"No record that the requester was told the outcome: {r['reference']}",
             r["outcome"])
        for r in summary.subject_requests_outcome_untold
    ]  # fmt: skip
    for decision, counts in sorted(summary.findings_by_decision.items()):
        rows += [
            _row(f"findings_{decision}", kind,
                 f"Times found in {decision} requests: {finding_name(kind)}", count)
            for kind, count in counts.most_common()
        ]  # fmt: skip
    return rows


#: The download's columns, in order.
REPORT_COLUMNS = ("section", "key", "label", "value")


def _row(section: str, key: str, label: str, value) -> dict:
    return dict(zip(REPORT_COLUMNS, (section, key, label, value), strict=True))
