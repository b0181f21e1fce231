import csv
import datetime as dt
import io
import json
import re
import tracemalloc

import pytest
from django.utils import timezone

from audit import exports, reports
from audit.models import AuditEvent
from audit.services import create_checkpoint, record, run_verification, verification
from tests.asked_here import asked
from tests.audit.test_chain import _raw
from tests.factories import make_category, make_chat_event

Action = AuditEvent.Action
HTMX = {"HTTP_HX_REQUEST": "true"}


def _fill(n: int, **fields) -> None:
    for i in range(n):
        record(action=fields.get("action", Action.LOGIN), actor_label=f"user {i}",
               **{k: v for k, v in fields.items() if k != "action"})  # fmt: skip


def test_the_list_pages_by_sequence_with_a_fixed_query_count(
    client, reader, django_assert_num_queries
):
    _fill(120)
    client.force_login(reader)
    # session, user, permissions, page, head, last verification, last checkpoint, the
    # checkpoint events the trail records (none stored: were any removed?), the backend
    # names the trail holds (the filter's choices), session save ×3
    with django_assert_num_queries(12):
        first = client.get("/audit/")
    assert first.status_code == 200
    newest = AuditEvent.objects.order_by("-sequence").first().sequence
    page = first.content.decode()
    assert f"/audit/events/{newest}/" in page
    assert "before=" in page
    second = client.get(f"/audit/?before={newest - 49}", **HTMX).content.decode()
    assert f"/audit/events/{newest - 50}/" in second
    assert f"/audit/events/{newest}/" not in second


def test_filters_narrow_the_list(client, reader, member):
    make_chat_event(category="Internal", backend="OpenAI", actor=member)
    make_chat_event(category="Public", decision="blocked")
    client.force_login(reader)
    page = client.get("/audit/?outcome=blocked").content.decode()
    assert "Chat request" in page and "Internal" not in page
    page = client.get("/audit/?category=Internal&backend=OpenAI").content.decode()
    assert "Internal → OpenAI" in page
    response = client.get("/audit/?actor=member@example.com&action=chat.request", **HTMX)
    page = response.content.decode()
    assert "Internal" in page and "Blocked" not in page


def test_the_category_and_backend_filters_ignore_case(client, reader):
    """They are typed: "internal" finds the Internal category's events."""
    make_chat_event(category="Internal", backend="Local Ollama")
    client.force_login(reader)
    page = client.get("/audit/?category=internal&action=chat.request").content.decode()
    assert "Internal → Local Ollama" in page
    page = client.get("/audit/?backend=local+ollama+&action=chat.request").content.decode()
    assert "Internal → Local Ollama" in page


def test_the_category_filter_takes_the_level_too(client, reader):
    """ "2" found nothing: the column holds the category's name."""
    make_chat_event(category="Internal", number=2, backend="Local Ollama")
    make_chat_event(category="Public", number=1, backend="Local Ollama")
    client.force_login(reader)
    page = client.get("/audit/?category=2&action=chat.request").content.decode()
    assert "Internal → Local Ollama" in page and "Public → Local Ollama" not in page


def test_a_time_range_selects_by_day(client, reader):
    _fill(2)
    client.force_login(reader)
    today = timezone.localdate()
    assert "user 0" in client.get(f"/audit/?since={today}&until={today}").content.decode()
    tomorrow = today + dt.timedelta(days=1)
    assert "No events" in client.get(f"/audit/?since={tomorrow}").content.decode()


def test_bad_filters_are_explained(client, reader):
    client.force_login(reader)
    response = client.get("/audit/?since=2026-02-30&actor=ghost@example.com&since=x")
    assert response.status_code == 422
    page = response.content.decode()
    assert "Enter a valid date" in page
    response = client.get("/audit/?actor=ghost@example.com")
    assert "No account has this email address" in response.content.decode()
    response = client.get("/audit/?since=2026-11-20&until=2026-11-01")
    assert "start date is after the end date" in response.content.decode()


def test_times_on_the_list_and_report_name_their_time_zone(client, reader, settings):
    settings.TIME_ZONE = "America/New_York"
    leak = make_chat_event(category="Confidential", number=3, backend="OpenAI",
                           hosting="external_api")  # fmt: skip
    zone = timezone.localtime(leak.occurred_at).strftime("%Z")  # EST or EDT
    client.force_login(reader)
    assert (
        f"{timezone.localtime(leak.occurred_at):%H:%M:%S} {zone}"
        in client.get("/audit/").content.decode()
    )
    assert (
        f"{timezone.localtime(leak.occurred_at):%H:%M} {zone}"
        in client.get("/audit/report/").content.decode()
    )


def test_filtering_with_htmx_returns_the_results_fragment(client, reader):
    _fill(3)
    client.force_login(reader)
    response = client.get("/audit/?outcome=success", **HTMX)
    assert b"<html" not in response.content
    assert b'id="event-results"' in response.content


def test_the_detail_page_shows_an_event_and_its_links(client, reader):
    event = record(action=Action.USER_ROLES_CHANGED, before={"roles": ["staff"]},
                   after={"roles": ["auditor"]}, actor_label="someone")  # fmt: skip
    client.force_login(reader)
    page = client.get(f"/audit/events/{event.sequence}/").content.decode()
    assert "links verify" in page
    assert "&quot;auditor&quot;" in page
    assert client.get("/audit/events/999999/").status_code == 404


def test_the_detail_page_names_what_an_event_is_about_in_words(client, reader):
    event = record(action=Action.USER_ROLES_CHANGED, actor_label="someone", target=reader)
    client.force_login(reader)
    page = client.get(f"/audit/events/{event.sequence}/").content.decode()
    assert f'title="governance.user">user {reader.public_id}' in page


def _download(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_the_export_streams_csv_of_the_filtered_events_and_is_audited(client, reader):
    make_chat_event(category="Internal", backend="OpenAI")
    make_chat_event(category="Public", decision="blocked")
    client.force_login(reader)
    response = client.get(asked(client, "/audit/export/csv/?outcome=blocked"))
    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="steward-audit-')
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeffsequence,".encode())  # so Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [r["outcome"] for r in rows] == ["blocked"]
    export = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    assert export.actor == reader
    assert export.details == {
        "format": "csv",
        "filters": {"outcome": "blocked"},
        "time_zone": "UTC",  # the zone its day boundaries were drawn in
    }


def test_the_jsonl_export_holds_every_chained_field(client, reader):
    _fill(3)
    client.force_login(reader)
    lines = _download(client.get(asked(client, "/audit/export/jsonl/"))).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["sequence"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[-1]["action"] == Action.AUDIT_EXPORTED  # the export's own event, last
    assert set(exports.COLUMNS) <= set(rows[0])


def test_spreadsheet_formulas_are_defused_in_csv(client, reader):
    record(action=Action.LOGIN, actor_label='=HYPERLINK("http://evil")')
    client.force_login(reader)
    text = _download(client.get(asked(client, "/audit/export/csv/")))
    assert "'=HYPERLINK" in text


def test_an_unknown_export_format_is_404_and_bad_filters_400(client, reader):
    client.force_login(reader)
    assert client.get(asked(client, "/audit/export/xlsx/")).status_code == 404
    response = client.get(asked(client, "/audit/export/csv/?since=nope"))
    assert response.status_code == 400
    assert b"Enter a valid date" in response.content


def test_the_export_reads_in_batches_not_all_at_once(db, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 25)
    _fill(200)
    tracemalloc.start()
    lines = exports.csv_lines(AuditEvent.objects.all())
    next(lines)
    baseline = tracemalloc.get_traced_memory()[0]
    peak = 0
    for _ in lines:
        peak = max(peak, tracemalloc.get_traced_memory()[0] - baseline)
    tracemalloc.stop()
    # one batch of 25 rows in memory at a time: far less than 200 rows' worth
    assert peak < 200 * 1500


def test_verify_now_queues_a_verification_whose_result_lands_in_the_trail(
    client, reader, django_capture_on_commit_callbacks
):
    _fill(2)
    client.force_login(reader)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/audit/verify/")
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=Action.AUDIT_VERIFIED)
    assert event.outcome == "success" and event.actor == reader
    assert "intact" in client.get("/audit/").content.decode()


def test_the_chain_panel_asks_for_itself_until_the_verification_it_started_lands(
    client, reader, django_capture_on_commit_callbacks
):
    """It said "Its result appears in the chain panel", and the panel stayed as it was
    until the page was reloaded."""
    _fill(2)
    run_verification()
    first = AuditEvent.objects.get(action=Action.AUDIT_VERIFIED).sequence
    client.force_login(reader)
    response = client.post("/audit/verify/")  # queued, not run: the worker is slow today
    assert response["Location"] == f"/audit/?verifying={first}"
    page = client.get(response["Location"]).content.decode()
    assert "verifying…" in page and f'hx-get="/audit/chain/?verifying={first}"' in page
    assert "verifying…" in client.get(f"/audit/chain/?verifying={first}").content.decode()
    run_verification(actor=reader)
    panel = client.get(f"/audit/chain/?verifying={first}").content.decode()
    assert "intact" in panel and "hx-get" not in panel and "<html" not in panel
    # Said once, in the status line the page keeps (a panel swapped whole is not read out).
    assert (
        '<p id="chain-announce" hx-swap-oob="innerHTML">Verification finished: the chain is intact.'
        in panel
    )
    assert (
        'id="chain-announce" class="visually-hidden" role="status"'
        in client.get("/audit/").content.decode()
    )


def test_the_chain_panel_stops_saying_intact_once_a_row_cannot_be_read(client, reader):
    """A row edited beyond reading, then "Verify now": the panel says broken and names
    the row, instead of keeping the earlier "intact"."""
    _fill(2)
    run_verification()
    _raw("UPDATE audit_auditevent SET details = %s WHERE sequence = 1", ['{"size": 1e400}'])
    run_verification(actor=reader)
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert '<span class="badge badge-ok">intact</span>' not in page
    assert '<span class="badge badge-danger">broken</span>' in page
    assert '<a href="/audit/events/1/">first bad event #1</a>' in page


def test_the_chain_panel_says_when_the_last_verification_could_not_finish(
    client, reader, monkeypatch
):
    _fill(2)
    run_verification()

    def cannot_finish(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(verification, "verify_trail", cannot_finish)
    run_verification(actor=reader)
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert "intact" not in page
    assert '<span class="badge badge-danger">verification failed</span>' in page
    assert "could not finish (RuntimeError)" in page


def test_the_first_bad_event_link_leads_to_the_first_bad_event(client, reader):
    _fill(4)
    _raw("UPDATE audit_auditevent SET actor_label = 'mallory' WHERE sequence = 2")
    assert run_verification().details["first_bad_sequence"] == 2
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    assert '<a href="/audit/events/2/">first bad event #2</a>' in page


def test_a_policy_admin_sees_the_chain_panel_without_links_or_buttons_that_refuse_them(
    client, admin
):
    """The dashboard is shared with policy admins; the chain panel's event and checkpoint
    links and its "Verify now" are the auditor's, so the admin sees the panel read-only."""
    _fill(2)
    create_checkpoint()
    run_verification()
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    assert "Chain status" in page and "intact" in page
    refused = [
        f"GET {href}"
        for href in re.findall(r'href="(/audit/[^"]*)"', page)
        if not href.startswith("/audit/charts/") and client.get(href).status_code == 403
    ]
    refused += [
        f"POST {action}"
        for action in re.findall(r'<form method="post" action="(/audit/[^"]*)"', page)
        if client.post(action).status_code == 403
    ]
    assert refused == []


@pytest.mark.parametrize("persona", ["member", "admin", "privacy_officer"])
def test_only_auditors_may_start_a_verification(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.post("/audit/verify/").status_code == 403
    client.logout()
    assert client.post("/audit/verify/")["Location"].startswith("/accounts/login/")
    assert not AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED).exists()


def test_the_dashboard_shows_the_period_and_its_charts(client, admin):
    make_chat_event(findings={"EMAIL_ADDRESS": 2})
    make_chat_event(decision="blocked", findings={"SECRET": 1})
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    assert "/audit/charts/requests-per-day.svg?from=" in page
    for name in ("requests-per-day", "decisions", "top-backends", "findings"):
        response = client.get(f"/audit/charts/{name}.svg")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/svg+xml"
        assert response.content.startswith(b"<svg")
        assert b"kozea.github.io" not in response.content  # no CDN script
    assert client.get("/audit/charts/nope.svg").status_code == 404


def test_the_dashboards_charts_have_their_numbers_in_text(client, admin):
    """A chart is an image: its numbers are on the page too, for a screen reader and for
    anyone who wants the figure (each chart's table, folded under it)."""
    make_chat_event(category="Internal", number=2, backend="OpenAI", findings={"IBAN": 3})
    make_chat_event(category="Internal", number=2, backend="OpenAI")
    make_chat_event(decision="blocked", findings={"SECRET": 1})
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    tables = re.findall(r"<table[^>]*>.*?</table>", page, flags=re.S)
    cells = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", t)).strip() for t in tables]
    day = timezone.localdate().strftime("%-d %b")
    assert any(f"{day} 2 1 3" in c and "Internal" in c for c in cells), cells  # per day
    assert any("OpenAI 2" in c for c in cells), cells  # per backend
    assert any("IBAN 3" in c and "Secret or credential 1" in c for c in cells), cells


def test_the_per_day_charts_key_is_html_that_wraps_not_part_of_the_picture(client, admin):
    """On a phone the chart scrolls sideways, opening on the newest days: a key drawn in the
    picture showed only its last category."""
    make_category(name="Internal", number=2, slug="internal")
    make_chat_event(category="Internal", number=2)
    make_chat_event(category="Retired", number=9)
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    assert (
        '<ul class="chart-key"><li><span class="swatch swatch-cat-2" aria-hidden="true"></span>'
        '2 · Internal</li><li><span class="swatch swatch-cat-0" aria-hidden="true"></span>'
        "Retired</li></ul>"
    ) in page
    svg = client.get("/audit/charts/requests-per-day.svg").content.decode()
    assert "2 · Internal" not in svg


def test_the_findings_key_is_html_under_the_chart_not_part_of_the_picture(client, admin):
    """Drawn by pygal, each label got a fixed share of the row: "Pseudonymised" ran into
    its neighbours at every width. The key is the page's, and wraps."""
    make_chat_event(decision="pseudonymised", findings={"EMAIL_ADDRESS": 2})
    make_chat_event(decision="blocked", findings={"SECRET": 1})
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    assert (
        '<ul class="chart-key"><li><span class="swatch swatch-pseudonymised" aria-hidden="true">'
        '</span>Pseudonymised</li><li><span class="swatch swatch-blocked" aria-hidden="true">'
        "</span>Blocked</li></ul>"
    ) in page
    svg = client.get("/audit/charts/findings.svg").content.decode()
    assert 'class="legend' not in svg and ">Pseudonymised<" not in svg


def test_a_phone_gets_the_half_charts_drawn_at_its_width(client, admin):
    """``?size=narrow`` (the dashboard's <picture> below 480px): drawn at a phone card's
    width, the labels read at their size there, long names cut short (whole in the table)."""
    make_chat_event(findings={"rule Health information": 1, "EMAIL_ADDRESS": 2})
    client.force_login(admin)
    page = client.get("/audit/dashboard/").content.decode()
    assert page.count('<source media="(max-width: 480px)" srcset="/audit/charts/') == 2
    for name in ("top-backends", "findings"):
        wide = client.get(f"/audit/charts/{name}.svg").content.decode()
        narrow = client.get(f"/audit/charts/{name}.svg?size=narrow").content.decode()
        assert 'viewBox="0 0 440 300"' in wide and 'viewBox="0 0 330 320"' in narrow
    narrow = client.get("/audit/charts/findings.svg?size=narrow").content.decode()
    assert "Rule “Health inform…" in narrow and "Health information”" not in narrow
    assert "Health information”" in client.get("/audit/charts/findings.svg").content.decode()
    ring = client.get("/audit/charts/decisions.svg?size=narrow").content.decode()
    assert 'viewBox="0 0 280 280"' in ring  # drawn once, for every width


@pytest.mark.parametrize("page", ["/audit/dashboard/", "/audit/report/"])
def test_a_bad_period_is_explained_beside_the_dates_as_typed(client, reader, page):
    client.force_login(reader)
    response = client.get(f"{page}?from=2026-11-10&to=2026-11-01")
    assert response.status_code == 422
    body = response.content.decode()
    assert "start date before the end date" in body
    assert 'value="2026-11-10"' in body and 'value="2026-11-01"' in body
    assert client.get("/audit/charts/decisions.svg?from=garbage").status_code == 400

    if page == "/audit/report/":  # a download is not a page to show the reason on
        assert client.get(asked(client, f"{page}?from=garbage&format=csv")).status_code == 400


def test_the_report_answers_where_confidential_data_went(client, reader):
    make_chat_event(category="Confidential", number=3, backend="Local Ollama", hosting="on_prem")
    client.force_login(reader)
    page = client.get("/audit/report/").content.decode()
    assert "no exceptions" in page
    assert "Findings by decision" in page  # it lists what was allowed too
    assert "Local Ollama" in page and "On-premise" in page
    leak = make_chat_event(category="Confidential", number=3, backend="OpenAI",
                           hosting="external_api")  # fmt: skip
    page = client.get("/audit/report/").content.decode()
    assert "1 exception" in page
    assert f"/audit/events/{leak.sequence}/" in page


def _sent_off_premise(n: int, number: int = 3) -> None:
    for _ in range(n):
        make_chat_event(category="Confidential", number=number, backend="OpenAI",
                        hosting="external_api")  # fmt: skip


def test_the_report_downloads_list_every_off_premise_exception(client, reader, monkeypatch):
    monkeypatch.setattr(reports, "EXCEPTIONS_SHOWN", 2)
    _sent_off_premise(3)
    client.force_login(reader)
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(asked(client, "/audit/report/?format=csv")).content.decode("utf-8-sig")
            )
        )
    )
    offprem = [r for r in rows if r["section"] == "confidential_off_premise"]
    assert (offprem[0]["key"], offprem[0]["value"]) == ("count", "3")
    assert len(offprem[1:]) == 3
    data = json.loads(client.get(asked(client, "/audit/report/?format=json")).content)
    assert len([r for r in data if r["key"].startswith("event #")]) == 3


def test_the_report_page_says_when_it_lists_only_the_first_exceptions(client, reader, monkeypatch):
    monkeypatch.setattr(reports, "EXCEPTIONS_SHOWN", 2)
    _sent_off_premise(3)
    client.force_login(reader)
    page = client.get("/audit/report/").content.decode()
    section = page[page.index("offprem-heading") : page.index("routing-heading")]
    assert "3 exceptions" in section and section.count(">Event #") == 2
    assert "Showing the first 2 of 3." in section
    today = timezone.localdate()
    week = f"since={today - dt.timedelta(days=6)}&amp;until={today}"  # the default period
    assert f'href="/audit/?action=chat.request&amp;{week}"' in section
    monkeypatch.setattr(reports, "EXCEPTIONS_SHOWN", 3)  # every one shown: no such note
    assert "Showing the first" not in client.get("/audit/report/").content.decode()


def test_restricted_data_sent_off_premise_is_an_exception_too(client, reader):
    """Category 4 (restricted) reaching an external API is at least as much an exception
    as category 3."""
    _sent_off_premise(1, number=4)
    client.force_login(reader)
    assert "1 exception" in client.get("/audit/report/").content.decode()
    leak = AuditEvent.objects.get(action=Action.CHAT_REQUEST)
    assert "Policy exception." in client.get(f"/audit/events/{leak.sequence}/").content.decode()


def test_backend_failures_count_only_the_backends_own(client, reader):
    """The dashboard's "backend failures": a backend that failed to answer, not a scanner,
    a policy re-check, a worker or Steward itself."""
    for stage, kind in [("backend", "timeout"), ("backend", "http"), ("backend", "internal"),
                        ("scan", ""), ("policy", "config"), ("worker", "internal")]:  # fmt: skip
        record(action=Action.CHAT_FAILURE, outcome="failure",
               details={"stage": stage, "kind": kind})  # fmt: skip
    today = timezone.localdate()
    assert reports.summarise(reports.Period(today, today)).failures == 2


def test_the_report_downloads_as_csv_and_json_and_is_audited(client, reader):
    make_chat_event(decision="pseudonymised", findings={"EMAIL_ADDRESS": 2})
    client.force_login(reader)
    response = client.get(asked(client, "/audit/report/?format=csv"))
    assert response.content.startswith("\ufeffsection,".encode())  # so Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {
        "section": "findings_pseudonymised",
        "key": "EMAIL_ADDRESS",
        "label": "Times found in pseudonymised requests: Email address",
        "value": "2",
    } in rows
    data = json.loads(client.get(asked(client, "/audit/report/?format=json")).content)
    assert {"section": "totals", "key": "requests", "label": "Chat requests", "value": 1} in data
    assert AuditEvent.objects.filter(action=Action.REPORT_EXPORTED).count() == 2


def test_export_and_paging_links_keep_the_filters(client, reader):
    _fill(60, outcome="failure")
    client.force_login(reader)
    page = client.get("/audit/?outcome=failure").content.decode()
    export = asked(client, "/audit/export/csv/?outcome=failure").replace("&", "&amp;")
    assert f'href="{export}"' in page
    assert "?outcome=failure&amp;before=" in page


def test_findings_are_named_in_words_in_the_list_the_report_and_the_charts(client, reader):
    """The list said "Pseudonymised: EMAIL_ADDRESS, PHONE_NUMBER", the report IBAN_CODE and
    the chart "Iban code"."""
    from governance.policy import finding_name

    make_chat_event(decision="pseudonymised", findings={"EMAIL_ADDRESS": 1, "IBAN_CODE": 2})
    client.force_login(reader)
    page = client.get("/audit/").content.decode()
    noted = re.search(r'cell-note">Pseudonymised: ([^<]*)<', page)[1]
    assert sorted(noted.split(", ")) == ["Email address", "IBAN"]
    report = client.get("/audit/report/").content.decode()
    assert 'title="IBAN_CODE">IBAN</span>' in report
    assert "EMAIL_ADDRESS" not in page
    assert [finding_name(k) for k in ("IBAN_CODE", "IP_ADDRESS", "US_SSN", "PERSON")] == [
        "IBAN", "IP address", "US Social Security number", "Person's name",
    ]  # fmt: skip
