"""The dashboard and its four chart images add up the period's events once, not five times."""

import html
import re

import pytest

from audit import reports
from audit.models import AuditEvent
from tests.factories import make_chat_event


@pytest.fixture
def summaries(monkeypatch):
    """The periods :func:`reports.summarise` was asked for, in order."""
    asked = []
    real = reports.summarise

    def counted(period, **kwargs):
        asked.append(period)
        return real(period, **kwargs)

    monkeypatch.setattr(reports, "summarise", counted)
    return asked


def _requests_shown(page: str) -> int:
    return int(re.search(r'>([\d,]+)</span><span class="stat-label">requests?<', page)[1])


def _chart_urls(page: str) -> list[str]:
    return [html.unescape(src) for src in re.findall(r'<img src="(/audit/charts/[^"]+)"', page)]


def test_it_summarises_the_period_once_for_the_page_and_its_charts(client, admin, summaries):
    make_chat_event(findings={"EMAIL_ADDRESS": 2})
    make_chat_event(decision="blocked", findings={"SECRET": 1})
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    charts = _chart_urls(page)
    assert len(charts) == 4
    for url in charts:
        response = client.get(url)
        assert response.status_code == 200
        assert response.content.startswith(b"<svg")
    assert len(summaries) == 1


def test_its_charts_draw_the_summary_the_page_showed_while_events_keep_coming(
    client, admin, summaries
):
    make_chat_event(backend="OpenAI", hosting="external_api")
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    make_chat_event(backend="Mistral", hosting="external_api")  # after the page, before its charts
    backends = next(url for url in _chart_urls(page) if "top-backends" in url)
    svg = client.get(backends).content.decode()
    assert "OpenAI" in svg and "Mistral" not in svg
    assert len(summaries) == 1


def test_a_new_event_gives_the_next_page_view_new_figures(client, reader, summaries):
    make_chat_event()
    client.force_login(reader)
    assert _requests_shown(client.get("/audit/dashboard/").content.decode()) == 1
    make_chat_event()
    assert _requests_shown(client.get("/audit/dashboard/").content.decode()) == 2
    assert len(summaries) == 2
    client.get("/audit/dashboard/")
    assert len(summaries) == 2  # nothing new: the figures come from the cache


def test_a_chart_asked_for_events_not_yet_recorded_leaves_no_figures_for_them(
    client, reader, summaries
):
    """``at`` past the newest event is drawn as of the newest: it must not keep figures under
    a number that a later page view, when the trail reaches it, would take for its own."""
    make_chat_event()
    client.force_login(reader)
    newest = AuditEvent.objects.order_by("-sequence").first().sequence
    assert client.get(f"/audit/charts/decisions.svg?at={newest + 1}").status_code == 200
    make_chat_event()
    assert _requests_shown(client.get("/audit/dashboard/").content.decode()) == 2


@pytest.mark.parametrize("at", ["", "abc", "-1", "²"])
def test_a_chart_without_a_usable_at_is_drawn_from_the_trail_as_it_is(client, reader, at):
    make_chat_event(backend="OpenAI", hosting="external_api")
    client.force_login(reader)
    response = client.get(f"/audit/charts/top-backends.svg?at={at}")
    assert response.status_code == 200
    assert b"OpenAI" in response.content


def test_a_cached_summary_is_still_refused_to_whoever_may_not_see_it(client, admin, member):
    make_chat_event()
    client.force_login(admin)
    charts = _chart_urls(client.get("/audit/dashboard/").content.decode())
    client.force_login(member)
    assert client.get("/audit/dashboard/").status_code == 403
    assert [client.get(url).status_code for url in charts] == [403] * 4
    client.logout()
    assert all(client.get(url)["Location"].startswith("/accounts/login/") for url in charts)


# --- a day that is over is added up once ------------------------------------------------


@pytest.fixture
def added_up(monkeypatch):
    """The days :func:`reports._add_up` read from the trail (the first of each run)."""
    days = []
    real = reports._add_up

    def counted(run, up_to):
        days.append(run[0].day)
        return real(run, up_to)

    monkeypatch.setattr(reports, "_add_up", counted)
    return days


@pytest.fixture
def over(monkeypatch):
    """Today, as a day that is over (tomorrow has come)."""
    import datetime as dt

    from django.utils import timezone

    today = timezone.localdate()
    monkeypatch.setattr(timezone, "localdate", lambda *args: today + dt.timedelta(days=1))
    return today


def test_a_day_that_is_over_is_read_once_and_kept_under_its_last_events_hash(db, added_up, over):
    """A year's report read each of its events in Python every time (6 s at a million)."""
    make_chat_event(findings={"EMAIL_ADDRESS": 2})
    make_chat_event(decision="blocked")
    period = reports.Period(over, over)
    first = reports.summarise(period)
    again = reports.summarise(period)
    assert added_up == [over]  # the second time from the cache
    assert (
        (again.requests, again.decisions, again.findings)
        == (
            first.requests,
            first.decisions,
            first.findings,
        )
        == (2, {"allowed": 1, "blocked": 1}, {"EMAIL_ADDRESS": 2})
    )
    # Another event on that day is another chain: its sum is not the one kept.
    make_chat_event()
    assert reports.summarise(period).requests == 3 and added_up == [over, over]


def test_a_day_cut_short_by_the_pages_event_is_read_up_to_it(db, added_up, over):
    first = make_chat_event()
    make_chat_event()
    period = reports.Period(over, over)
    assert reports.summarise(period).requests == 2
    assert reports.summarise(period, up_to=first.sequence).requests == 1


def test_today_is_read_each_time(db, added_up):
    from django.utils import timezone

    make_chat_event()
    today = reports.Period(timezone.localdate(), timezone.localdate())
    reports.summarise(today)
    make_chat_event()
    assert reports.summarise(today).requests == 2 and len(added_up) == 2


def test_the_exceptions_listed_stop_at_the_limit_across_days(db, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(reports, "EXCEPTIONS_SHOWN", 2)
    for _ in range(3):
        make_chat_event(category="Confidential", number=3, backend="OpenAI", hosting="external_api")
    today = reports.Period(timezone.localdate(), timezone.localdate())
    summary = reports.summarise(today)
    assert summary.confidential_offprem_count == 3 and len(summary.confidential_offprem) == 2
    assert len(reports.summarise(today, every_exception=True).confidential_offprem) == 3


def test_sums_kept_by_another_release_are_not_read(db, added_up, over, monkeypatch):
    """A day's sum is kept for 400 days: one kept before what it counts (or the shape of
    the summary) changed would be read as if it were this release's."""
    make_chat_event()
    period = reports.Period(over, over)
    reports.summarise(period)
    monkeypatch.setattr(reports, "SUMS_VERSION", reports.SUMS_VERSION + 1)
    reports._sums_version.cache_clear()
    try:
        reports.summarise(period)
        assert added_up == [over, over]
    finally:
        reports._sums_version.cache_clear()
