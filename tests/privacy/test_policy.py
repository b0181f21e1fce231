import datetime as dt

import pytest

from privacy import policy
from privacy.policy import CCPA, GDPR

D = dt.date


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (D(2026, 1, 15), D(2026, 2, 15)),
        (D(2026, 1, 31), D(2026, 2, 28)),  # no 31 February: the month's last day
        (D(2028, 1, 31), D(2028, 2, 29)),  # leap year
        (D(2026, 3, 31), D(2026, 4, 30)),
        (D(2026, 12, 31), D(2027, 1, 31)),  # across the year end
        (D(2028, 2, 29), D(2028, 3, 29)),
    ],
)
def test_it_gives_gdpr_one_calendar_month(received, due):
    assert policy.due_on(GDPR, received) == due


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (D(2026, 1, 1), D(2026, 2, 15)),
        (D(2026, 12, 1), D(2027, 1, 15)),
        (D(2028, 2, 1), D(2028, 3, 17)),  # 29 days in February 2028
        (D(2027, 2, 1), D(2027, 3, 18)),
    ],
)
def test_it_gives_ccpa_45_days(received, due):
    assert policy.due_on(CCPA, received) == due


def test_it_extends_gdpr_by_two_months_and_ccpa_by_45_days():
    assert policy.extended_due_on(GDPR, D(2026, 1, 28)) == D(2026, 4, 28)
    assert policy.extended_due_on(GDPR, D(2027, 11, 30)) == D(2028, 2, 29)
    assert policy.extended_due_on(CCPA, D(2026, 1, 1)) == D(2026, 4, 1)


def test_it_extends_gdpr_to_three_months_from_a_month_end_receipt():
    """Received 31 January, due 28 February: the extension runs to 30 April, three months
    from the receipt, not two months from the shortened due date."""
    received = D(2026, 1, 31)
    assert policy.due_on(GDPR, received) == D(2026, 2, 28)
    assert policy.extended_due_on(GDPR, received) == D(2026, 4, 30)


def test_it_counts_days_left_negative_when_overdue():
    assert policy.days_left(D(2026, 3, 1), D(2026, 2, 27)) == 2
    assert policy.days_left(D(2026, 3, 1), D(2026, 3, 1)) == 0
    assert policy.days_left(D(2026, 3, 1), D(2026, 3, 4)) == -3


def test_it_needs_a_second_person_to_approve():
    assert policy.second_pair_of_eyes(scoped_by_id=None, approver_id=1)
    assert policy.second_pair_of_eyes(scoped_by_id=1, approver_id=1)
    assert policy.second_pair_of_eyes(scoped_by_id=1, approver_id=2) is None


def test_it_cuts_off_at_the_retention_window():
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    assert policy.expiry_cutoff(now, 7) == dt.datetime(2026, 2, 22, 12, tzinfo=dt.UTC)


# --- telling the requester ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "acknowledge_by"),
    [
        (dt.date(2026, 12, 1), dt.date(2026, 12, 15)),  # a Tuesday: two weeks on
        (dt.date(2026, 12, 5), dt.date(2026, 12, 18)),  # a Saturday: counted from Monday
        (dt.date(2026, 12, 24), dt.date(2027, 1, 7)),  # holidays are not known: they count
    ],
)
def test_ccpa_gives_ten_business_days_to_confirm_receipt(received, acknowledge_by):
    """CCPA regulations (11 CCR § 7021(a)): confirm receipt within 10 business days."""
    assert policy.acknowledge_by(policy.CCPA, received) == acknowledge_by


def test_public_holidays_named_are_not_business_days():
    thanksgiving = {dt.date(2026, 11, 26), dt.date(2026, 11, 27)}
    received = dt.date(2026, 11, 18)  # a Wednesday
    assert policy.acknowledge_by(policy.CCPA, received) == dt.date(2026, 12, 2)
    assert policy.acknowledge_by(policy.CCPA, received, thanksgiving) == dt.date(2026, 12, 4)


def test_gdpr_sets_no_day_of_its_own_to_confirm_receipt():
    assert policy.acknowledge_by(policy.GDPR, dt.date(2026, 12, 1)) is None


def test_what_the_requester_is_owed_grows_with_the_request():
    assert policy.notices_owed(extended=False, closed=False) == ["receipt"]
    assert policy.notices_owed(extended=True, closed=False) == ["receipt", "extension"]
    assert policy.notices_owed(extended=True, closed=True) == ["receipt", "extension", "outcome"]
    assert policy.notices_owed(extended=False, closed=True) == ["receipt", "outcome"]


def test_each_notice_has_its_own_last_day():
    """The extension must reach the requester within the first period (GDPR Art. 12(3)),
    not the extended one; the outcome by the due date as it stands."""
    received = dt.date(2026, 12, 1)
    extended_due = policy.extended_due_on(policy.GDPR, received)

    def last_day(topic, regime=policy.GDPR, due=extended_due):
        return policy.notice_due_on(topic, regime=regime, received_on=received, due=due)

    assert last_day("receipt") is None
    assert last_day("receipt", policy.CCPA) == dt.date(2026, 12, 15)
    assert last_day("extension") == dt.date(2027, 1, 1)
    assert last_day("outcome") == extended_due == dt.date(2027, 3, 1)
