"""Pure rules of retention and data-subject requests: dates, deadlines, who may approve.

No ORM and no request here, so every rule is tested on its own.
"""

import calendar
import datetime as dt
from collections.abc import Container
from dataclasses import dataclass


@dataclass(frozen=True)
class Regime:
    """A law's clock: how long a request may take, and how far it may be extended."""

    code: str
    label: str
    months: int = 0
    days: int = 0
    extension_months: int = 0
    extension_days: int = 0
    #: Business days to confirm receipt to the requester (0: no day of its own; the GDPR
    #: asks for answers "without undue delay").
    acknowledge_business_days: int = 0


GDPR = Regime("gdpr", "GDPR", months=1, extension_months=2)
#: Receipt confirmed within 10 business days: CCPA regulations, 11 CCR § 7021(a).
CCPA = Regime("ccpa", "CCPA", days=45, extension_days=45, acknowledge_business_days=10)
REGIMES = {regime.code: regime for regime in (GDPR, CCPA)}

#: Beat reminds the privacy officers of a request this many days before it is due.
REMIND_DAYS_BEFORE = (7, 2, 0)
#: ...and every day from this many days before something the requester must be told is due.
REMIND_TELLING_DAYS_BEFORE = 2


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or that month's last day when it is shorter.

    This is how the GDPR's "one month" is read (31 January → 28 or 29 February).
    """
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_on(regime: Regime, received_on: dt.date) -> dt.date:
    """The last day to answer a request received on ``received_on``."""
    return add_months(received_on, regime.months) + dt.timedelta(days=regime.days)


def extended_due_on(regime: Regime, received_on: dt.date) -> dt.date:
    """The last day to answer a request received on ``received_on`` once it is extended (the
    one extension the law allows).

    Counted from the receipt, not from the first due date: a month-end receipt's due date
    is cut short (31 January → 28 February), and counting on from it would lose the days
    (GDPR: three months from 31 January is 30 April, not 28 April).
    """
    months = regime.months + regime.extension_months
    return add_months(received_on, months) + dt.timedelta(days=regime.days + regime.extension_days)


def add_business_days(
    day: dt.date, count: int, holidays: Container[dt.date] = frozenset()
) -> dt.date:
    """``count`` business days after ``day``: weekdays that are not ``holidays``. Without a
    calendar, public holidays count as business days, so the date errs early, never late."""
    while count:
        day += dt.timedelta(days=1)
        count -= day.weekday() < 5 and day not in holidays
    return day


def acknowledge_by(
    regime: Regime, received_on: dt.date, holidays: Container[dt.date] = frozenset()
) -> dt.date | None:
    """The last day to confirm receipt of a request, if the law sets one."""
    if not regime.acknowledge_business_days:
        return None
    return add_business_days(received_on, regime.acknowledge_business_days, holidays)


#: What the requester must be told, in the order it comes: that the request was received,
#: that its deadline was extended and why (GDPR Art. 12(3), CCPA § 1798.130(a)(2)), and
#: its outcome (or why it was refused, with the right to complain).
RECEIPT, EXTENSION, OUTCOME = "receipt", "extension", "outcome"


def notices_owed(*, extended: bool, closed: bool) -> list[str]:
    """Everything the requester is owed so far, told or not."""
    return [RECEIPT] + [EXTENSION] * extended + [OUTCOME] * closed


def notice_due_on(
    topic: str,
    *,
    regime: Regime,
    received_on: dt.date,
    due: dt.date,
    holidays: Container[dt.date] = frozenset(),
) -> dt.date | None:
    """The last day to tell the requester ``topic``: receipt when the law sets a day; an
    extension within the first period (not the extended one); the outcome by the request's
    due date as it stands."""
    if topic == RECEIPT:
        return acknowledge_by(regime, received_on, holidays)
    if topic == EXTENSION:
        return due_on(regime, received_on)
    return due


def days_left(due: dt.date, today: dt.date) -> int:
    """Days until ``due`` (0 on the day, negative once overdue)."""
    return (due - today).days


def days_overdue(due: dt.date, today: dt.date) -> int:
    """Days past ``due`` on ``today`` (0: not past it)."""
    return max(0, -days_left(due, today))


def extension_refusal(*, due: dt.date, today: dt.date, extended: bool) -> str | None:
    """Why a request due on ``due`` may not be extended ``today``, or None if it may.

    The law allows one extension, and the requester must be told of it within the
    original period (GDPR Art. 12(3); CCPA within the first 45 days): by the due day.
    """
    if extended:
        return "This request has already been extended once; the law allows no more."
    if days_left(due, today) < 0:
        return (
            f"The deadline passed on {due.day} {due:%B %Y}: an extension had to be given "
            "(and the requester told) before it. Answer the request now."
        )
    return None


def expiry_cutoff(now: dt.datetime, retention_days: int) -> dt.datetime:
    """Conversations last active before this moment have outlived their retention window.

    A window reaching back past year 1 (stored before the console bounded it) stops there:
    nothing is that old, so nothing expires, and the other categories are still purged.
    A day is 24 hours: counted in UTC, since arithmetic on a zoned time follows the wall
    clock (a week back across a change to summer time would be 167 hours).
    """
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC)
    reachable = (now - dt.datetime.min.replace(tzinfo=now.tzinfo)).days
    return now - dt.timedelta(days=min(retention_days, reachable))


def second_pair_of_eyes(*, scoped_by_id: int | None, approver_id: int) -> str | None:
    """Why ``approver_id`` may not approve, or None if they may (four eyes)."""
    if scoped_by_id is None:
        return "Scope the request before approving it."
    if scoped_by_id == approver_id:
        return "Someone other than the person who scoped this request must approve it."
    return None
