"""What the chat requests of a period add up to: the dashboard's charts and the compliance report.

One pass over the period's ``chat.request`` events (metadata only).
"""

import datetime as dt
import functools
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields

from django.core.cache import cache
from django.utils import timezone

from audit.models import AuditEvent, first_sequence_from
from governance.policy import finding_name

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
        summary = summarise(period, up_to=sequence)
        cache.set(key, summary, SUMMARY_CACHE_SECONDS)
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
    events = AuditEvent.objects.between(period.first_day, period.last_day)
    if up_to is not None:
        events = events.filter(sequence__lte=up_to)
    summary.failures = (
        events.filter(action=AuditEvent.Action.CHAT_FAILURE, details__stage="backend")
        .exclude(details__kind__in=STEWARD_FAILURE_KINDS)
        .count()
    )
    summary.subject_requests = _subject_requests_closed(events)
    for part in _day_parts(period, up_to):
        _merge(summary, part, kept)
    return summary


def _day_parts(period: Period, up_to: int | None) -> list[Summary]:
    """The period's chat requests added up a local day at a time.

    A day that is over never changes (the trail is append-only): its sum is kept
    :data:`DAY_CACHE_SECONDS` under the hash of its last event, which the whole chain up
    to that event decides, so a sum is never read for other events than its own. Only
    today, and a day that ``up_to`` cuts short, are added up from the trail each time: a
    year's report read every one of its events in Python (6 s at a million events).
    """
    days = period.days
    firsts = [first_sequence_from(day) for day in days]
    # The first event after the period (none after the calendar's last day).
    firsts.append(
        first_sequence_from(period.last_day + dt.timedelta(1))
        if period.last_day < dt.date.max
        else None
    )
    today = timezone.localdate()
    tz = timezone.get_current_timezone_name()
    head = None
    ranges = []  # (day, its first event, its last event, whether the day is over)
    for day, first, after in zip(days, firsts, firsts[1:], strict=False):
        if first is None:
            break  # no event from this day on
        if after == first:
            continue  # none on this day
        if after is None and head is None:
            head = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True)[0]
        last = after - 1 if after is not None else head
        over = day < today and (up_to is None or last <= up_to)
        ranges.append((day, first, last, over))
    last_hashes = dict(
        AuditEvent.objects.filter(
            sequence__in=[last for _, _, last, over in ranges if over]
        ).values_list("sequence", "hash")
    )
    keys = {
        day: f"audit:day:{_sums_version()}:{day}:{tz}:{last_hashes[last]}"
        for day, _, last, over in ranges
        if over and last in last_hashes
    }
    cached = cache.get_many(list(keys.values()))
    parts, fresh = [], {}
    for day, first, last, _ in ranges:
        part = cached.get(keys.get(day, ""))
        if part is None:
            events = AuditEvent.objects.filter(sequence__gte=first, sequence__lte=last)
            if up_to is not None:
                events = events.filter(sequence__lte=up_to)
            part = _add_up(Summary(Period(day, day)), events)
            if day in keys:
                fresh[keys[day]] = part
        parts.append(part)
    if fresh:
        cache.set_many(fresh, DAY_CACHE_SECONDS)
    return parts


def _add_up(summary: Summary, events) -> Summary:
    """``events``' chat requests added to ``summary``, every exception listed."""
    rows = (
        events.filter(action=AuditEvent.Action.CHAT_REQUEST)
        .order_by("sequence")
        .values_list("sequence", "occurred_at", "category", "backend", "outcome", "details")
    )
    for sequence, occurred_at, category, backend, outcome, details in rows.iterator(2000):
        details = details or {}
        decision = details.get("decision") or ("blocked" if outcome == "blocked" else "allowed")
        summary.requests += 1
        summary.decisions[decision] += 1
        day = timezone.localtime(occurred_at).date()  # the period's days are local days
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
        if isinstance(number, int) and number >= CONFIDENTIAL_NUMBER and hosting == EXTERNAL:
            summary.confidential_offprem_count += 1
            summary.confidential_offprem.append(
                {"sequence": sequence, "occurred_at": occurred_at, "category": category,
                 "backend": backend}
            )  # fmt: skip
    return summary


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


def report_rows(summary: Summary) -> list[dict]:
    """The compliance report flattened for CSV / JSON download: one row per statement."""
    p = summary.period
    rows = [
        {"section": "period", "key": "from", "value": p.first_day.isoformat()},
        {"section": "period", "key": "to", "value": p.last_day.isoformat()},
        {"section": "totals", "key": "requests", "value": summary.requests},
        {"section": "totals", "key": "failures", "value": summary.failures},
    ]
    rows += [
        {"section": "decisions", "key": k, "value": v} for k, v in sorted(summary.decisions.items())
    ]
    for (category, backend, hosting, region), count in sorted(summary.routes.items()):
        rows.append(
            {"section": "routing", "key": f"{category} → {backend} ({hosting}, {region or '?'})",
             "value": count}
        )  # fmt: skip
    rows.append(
        {"section": "confidential_off_premise", "key": "count",
         "value": summary.confidential_offprem_count}
    )  # fmt: skip
    rows += [
        {"section": "confidential_off_premise", "key": f"event #{e['sequence']}",
         "value": f"{e['category']} → {e['backend']}"}
        for e in summary.confidential_offprem
    ]  # fmt: skip
    rows += [
        {"section": "subject_requests", "key": "closed", "value": len(summary.subject_requests)},
        {"section": "subject_requests", "key": "late",
         "value": len(summary.subject_requests_late)},
        {"section": "subject_requests", "key": "closed_before_telling_was_recorded",
         "value": summary.subject_requests_closed_before_records},
    ]  # fmt: skip
    rows += [
        {"section": "subject_requests_late", "key": r["reference"],
         "value": f"{r['outcome']} {r['days_late']} days late (due {r['due_on']})"}
        for r in summary.subject_requests_late
    ]  # fmt: skip
    rows += [
        {"section": "subject_requests_told_late", "key": r["reference"],
         "value": ", ".join(r["told_late"])}
        for r in summary.subject_requests_told_late
    ]  # fmt: skip
    rows += [
        {"section": "subject_requests_outcome_not_recorded_as_told", "key": r["reference"],
         "value": r["outcome"]}
        for r in summary.subject_requests_outcome_untold
    ]  # fmt: skip
    for decision, counts in sorted(summary.findings_by_decision.items()):
        rows += [
            {"section": f"findings_{decision}", "key": kind, "value": count}
            for kind, count in counts.most_common()
        ]
    return rows
