"""The auditor's pages in a real browser: filtering, detail, verification, charts, report."""

import csv
import datetime as dt
import re
from collections import Counter

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit import charts, reports
from governance.demo import DEMO_PASSWORD
from tests.browser.audit_data import seed_audit_trail
from tests.browser.conftest import PHONE, one_at_a_time, sign_in, watch_console

pytestmark = pytest.mark.browser

CHARTS = "**/audit/charts/*"
AUDITOR = "aaron@example.com"
POLICY_ADMIN = "paula@example.com"
#: The charts on screen; paper has a drawing of its own (``.print-only``).
CHARTS_LOADED = """() => {
  const images = [...document.querySelectorAll('.chart img:not(.print-only)')];
  return images.length === 4 && images.every(i => i.complete && i.naturalWidth > 0);
}"""


@pytest.fixture
def trail(transactional_db):
    return seed_audit_trail(verified=False)


def test_it_filters_the_trail_in_place(trail, page: Page, console_errors: list[str]):
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/")
    results = page.locator("#event-results")
    expect(results.locator("tbody tr")).to_have_count(50)
    page.evaluate("window.stewardMarker = 'same page'")

    page.get_by_label("Outcome").select_option("blocked")

    expect(page).to_have_url(re.compile(r"outcome=blocked"))
    outcomes = results.locator("td[data-label=Outcome]")
    expect(outcomes.first).to_have_text("Blocked")
    expect(outcomes.filter(has_not_text="Blocked")).to_have_count(0)
    assert outcomes.count() == min(trail.blocked, 50)
    assert page.evaluate("window.stewardMarker") == "same page", "the filter reloaded the page"

    with page.expect_download() as download_info:
        results.get_by_role("link", name="CSV").click()
    with open(download_info.value.path(), encoding="utf-8-sig", newline="") as file:
        exported = list(csv.DictReader(file))
    assert len(exported) == trail.blocked
    assert {row["outcome"] for row in exported} == {"blocked"}
    assert console_errors == []


def test_filtering_keeps_no_copy_of_the_page_in_the_browser_and_back_still_works(
    trail, page: Page, console_errors: list[str]
):
    """htmx kept a copy of each page it left, for Back, in the tab's sessionStorage, which
    outlives signing out: the audit trail's rows (a chat page's would hold its text). Back
    now loads the page from the server again (which says it must not be stored)."""
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/")
    expect(page.locator("#event-results tbody tr")).to_have_count(50)
    page.get_by_label("Outcome").select_option("blocked")
    expect(page).to_have_url(re.compile(r"outcome=blocked"))
    expect(page.locator("td[data-label=Outcome]").first).to_have_text("Blocked")
    assert page.evaluate("window.sessionStorage.getItem('htmx-history-cache')") is None

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"outcome=blocked"))
    expect(page.locator("#event-results tbody tr")).to_have_count(50)
    expect(page.get_by_label("Outcome")).to_have_value("")
    assert page.evaluate("window.sessionStorage.getItem('htmx-history-cache')") is None
    assert console_errors == []


def test_going_through_a_filters_choices_by_keyboard_makes_one_step_back(
    trail, page: Page, console_errors: list[str]
):
    """Each arrow key in a closed select is a change: each fetched the trail and pushed a
    history entry, so Back went through every choice passed over. One pause, one step."""
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/")
    expect(page.locator("#event-results tbody tr")).to_have_count(50)
    before = page.evaluate("history.length")
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if "/audit/?" in r.url else None)
    page.get_by_label("Outcome").focus()
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    chosen = page.get_by_label("Outcome").input_value()
    expect(page).to_have_url(re.compile(rf"outcome={chosen}"))
    page.wait_for_timeout(800)  # any later fetch would have gone by now
    assert len(fetched) == 1 and page.evaluate("history.length") == before + 1
    assert console_errors == []


def test_it_keeps_the_filters_on_older_pages(trail, page: Page, console_errors: list[str]):
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/?action=chat.request")
    newest = page.locator("#event-results td[data-label='#']").first.inner_text()

    page.get_by_role("link", name="Older events →").click()

    expect(page).to_have_url(re.compile(r"action=chat.request&before=\d+"))
    what = page.locator("#event-results td[data-label=What] > a")
    expect(what).to_have_count(50)
    expect(what.filter(has_not_text="Chat request")).to_have_count(0)
    first = int(page.locator("#event-results td[data-label='#']").first.inner_text())
    assert first < int(newest) - 49
    expect(page.get_by_label("Action")).to_have_value("chat.request")
    assert console_errors == []


def test_it_opens_an_event_and_verifies_the_chain(trail, page: Page, console_errors):
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/?outcome=blocked")
    first = page.locator("#event-results tbody tr").first.locator("td[data-label='#'] a")
    sequence = first.inner_text()
    first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Event #{sequence}: Chat request")
    expect(page.locator(".facts").first).to_contain_text("Blocked")
    expect(page.get_by_text("links verify")).to_be_visible()

    page.get_by_role("link", name="← Audit trail").click()
    panel = page.locator(".chain-panel")
    expect(panel.locator(".card-head .badge")).to_have_text("not verified yet")
    panel.get_by_role("button", name="Verify now").click()

    expect(page.get_by_role("status").filter(has_text="Verification started")).to_be_visible()
    expect(panel.locator(".card-head .badge")).to_have_text("intact")
    expect(panel).to_contain_text(timezone.localdate().strftime("%-d %b %Y"))
    assert console_errors == []


@pytest.mark.parametrize("email", [AUDITOR, POLICY_ADMIN])
def test_it_draws_the_dashboard_charts(trail, page: Page, console_errors, email):
    one_at_a_time(page, CHARTS)
    sign_in(page, email, DEMO_PASSWORD)
    page.goto("/audit/dashboard/")

    expect(page.get_by_role("heading", level=1)).to_have_text("Insights")
    expect(page.locator(".chart img:not(.print-only)")).to_have_count(4)
    page.wait_for_function(CHARTS_LOADED)
    page.wait_for_load_state("networkidle")
    assert console_errors == []  # pygal's <style> inside an <img> must not trip the CSP


def test_it_downloads_the_compliance_report(trail, page: Page, console_errors):
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/report/")
    offprem = page.locator("section[aria-labelledby=offprem-heading]")
    expect(offprem.get_by_role("heading")).to_have_text(
        "Confidential data reached an external backend"
    )
    expect(offprem.locator(".badge")).to_have_text("1 exception")
    expect(offprem.get_by_role("link", name=f"Event #{trail.exception}")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value

    assert re.fullmatch(r"steward-compliance-[\d-]+\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as file:
        lines = file.read().splitlines()
    assert lines[0] == "\ufeffsection,key,label,value"  # the BOM: Excel reads it as UTF-8
    assert lines[1] == f"period,from,Period from,{timezone.localdate() - dt.timedelta(days=6)}"
    assert console_errors == []


def test_a_policy_admin_sees_the_dashboard_but_not_the_trail(trail, new_context, console_errors):
    page = one_at_a_time(watch_console(new_context().new_page(), console_errors), CHARTS)
    sign_in(page, POLICY_ADMIN, DEMO_PASSWORD)

    assert page.goto("/audit/dashboard/").status == 200
    page.wait_for_function(CHARTS_LOADED)
    assert page.goto("/audit/").status == 403
    expect(page.locator(".error-code")).to_have_text("403")

    # Chromium logs the 403 document as a failed resource; that one is the point.
    unexpected = [e for e in console_errors if "status of 403" not in e]
    assert unexpected == []


def test_it_fits_the_audit_pages_on_a_phone(trail, new_context, console_errors):
    page = watch_console(new_context(viewport=PHONE).new_page(), console_errors)
    one_at_a_time(page, CHARTS)
    sign_in(page, AUDITOR, DEMO_PASSWORD)

    for path in ("/audit/", f"/audit/events/{trail.exception}/", "/audit/checkpoints/",
                 "/audit/dashboard/", "/audit/report/"):  # fmt: skip
        assert page.goto(path).status == 200
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px phone"
    assert console_errors == []


def test_each_events_time_shows_whole_on_a_320px_phone(trail, new_context, console_errors):
    """The time ran on behind the outcome's badge ("18:28:14 U")."""
    page = watch_console(new_context(viewport={"width": 320, "height": 800}).new_page(),
                         console_errors)  # fmt: skip
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/")
    overflowing = page.evaluate("""() => [...document.querySelectorAll(
        '#event-results td[data-label=When]')]
        .filter(td => td.scrollWidth > td.clientWidth).length""")
    assert overflowing == 0
    assert console_errors == []


def test_the_trail_prints_on_a4_as_a_record(trail, page: Page, console_errors: list[str]):
    """The table ran 126px past an A4 page, cutting two columns, under the filters and the
    buttons, which do nothing on paper."""
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.set_viewport_size({"width": 718, "height": 1000})  # A4's printable width at 96 dpi
    page.emulate_media(media="print")
    page.goto("/audit/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 718
    for gone in (".filters", "text=Verify now", "text=Older events", "text=Export"):
        expect(page.locator(gone).first).to_be_hidden()
    expect(page.locator("#event-results td[data-label=Outcome]").first).to_be_visible()
    assert console_errors == []


def test_the_printed_trail_says_which_events_it_holds(trail, page: Page, console_errors):
    """The filter form is left off paper: the filters it applied are printed in words."""
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/?outcome=blocked")
    applied = page.locator("#event-results .print-only")
    expect(applied).to_be_hidden()  # on screen, the form says it

    page.emulate_media(media="print")
    expect(applied).to_have_text("Filtered: outcome Blocked.")
    expect(page.locator(".filters")).to_be_hidden()
    assert console_errors == []


def test_the_dashboard_prints_the_per_day_chart_at_a_size_to_read(
    trail, page: Page, console_errors
):
    """Printed from a desktop window, the per-day chart was its 1,090px drawing shrunk to A4,
    its labels under 10px: a browser prints the image its <picture> chose for the screen.
    Paper has the drawing made for one column, fetched with the page."""
    one_at_a_time(page, CHARTS)
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/dashboard/")
    page.wait_for_function(CHARTS_LOADED)
    page.emulate_media(media="print")
    figure = page.locator("figure.chart", has_text="Requests per day")
    printed = figure.locator("img >> visible=true")
    drawing = printed.evaluate("img => img.complete && img.naturalWidth ? img.currentSrc : ''")
    assert drawing, "the printed chart is not there before printing"

    page.set_viewport_size({"width": 718, "height": 1000})  # A4's printable width at 96 dpi
    shown = printed.evaluate("img => img.getBoundingClientRect().width")
    svg = page.request.get(drawing).text()
    sizes = page.context.new_page()
    sizes.set_content(f"<!doctype html><body style='margin:0'>{svg}")
    sizes.evaluate(f"document.querySelector('svg').style.width = '{shown}px'")
    labels = sizes.evaluate(LABEL_SIZES)
    assert labels and all(size >= 10 for _, size in labels), labels
    assert console_errors == []


def test_chart_keys_keep_their_colours_on_paper(trail, page: Page, console_errors):
    """A key's colour is its background, which browsers leave out of print unless told:
    the keys printed as blank space beside each name."""
    one_at_a_time(page, CHARTS)
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/dashboard/")
    page.emulate_media(media="print")
    swatches = page.locator(".swatch")
    expect(swatches.first).to_be_visible()
    adjust = swatches.evaluate_all(
        "keys => keys.map(k => getComputedStyle(k).getPropertyValue('print-color-adjust'))"
    )
    assert set(adjust) == {"exact"}
    assert console_errors == []


def _findings_summary() -> reports.Summary:
    """A normal month's findings: all four decisions, and a rule's long name."""
    day = dt.date(2026, 11, 2)
    summary = reports.Summary(reports.Period(day, day))
    summary.findings = Counter({"PERSON": 40, "EMAIL_ADDRESS": 20, "rule Health information": 10})
    for decision in ("allowed", "pseudonymised", "escalated", "blocked"):
        summary.findings_by_decision[decision].update({"PERSON": 10, "EMAIL_ADDRESS": 5})
    summary.findings_by_decision["blocked"].update({"rule Health information": 10})
    return summary


#: Each label of the chart on the page, and the size it is shown at (the drawing's scaled).
LABEL_SIZES = """() => {
    const svg = document.querySelector('svg');
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    return [...svg.querySelectorAll('.axis text')].filter(t => t.textContent.trim())
        .map(t => [t.textContent.trim(), parseFloat(getComputedStyle(t).fontSize) * scale]);
}"""


@pytest.mark.parametrize("narrow, width", [(False, 516), (True, 324), (True, 254)])
def test_the_findings_chart_labels_read_at_10px_or_more(browser, narrow, width):
    """At the width each drawing is shown at: the desktop's half column (516px), a 390px
    phone's card (324px), a 320px phone's (254px). The desktop drawing shrunk to a phone's
    card put them under 10px; its key, drawn in the picture, ran its labels together, and is
    HTML under the chart now."""
    svg = charts.findings_by_type(_findings_summary(), narrow=narrow)
    page = browser.new_page(viewport={"width": width, "height": 600})
    page.set_content(f"<!doctype html><body style='margin:0'>{svg}")
    page.evaluate("document.querySelector('svg').style.width = '100%'")
    sizes = page.evaluate(LABEL_SIZES)
    legend = page.locator("svg .legends .legend").count()
    page.close()
    assert legend == 0
    assert sizes and all(size >= 10 for _, size in sizes), sizes
    names = [label for label, _ in sizes]
    assert ("Rule “Health inform…" in names) is narrow  # cut short on a phone, whole beside


def test_on_a_phone_the_half_charts_are_drawn_for_its_width(trail, new_context, console_errors):
    """Top backends and findings come drawn at a phone's card width (``?size=narrow``), the
    findings' key in HTML beneath, on as many lines as it takes."""
    page = watch_console(new_context(viewport=PHONE).new_page(), console_errors)
    one_at_a_time(page, CHARTS)
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/dashboard/")
    page.wait_for_function(CHARTS_LOADED)
    for caption in ("Top backends", "Findings by type"):
        source = page.locator("figure.chart", has_text=caption).locator("img")
        assert "size=narrow" in source.evaluate("img => img.currentSrc"), caption
    key = page.locator("figure.chart", has_text="Findings by type").locator(".chart-key li")
    expect(key.first).to_be_visible()
    boxes = [key.nth(n).bounding_box() for n in range(key.count())]
    for one, other in zip(boxes, boxes[1:]):
        same_line = abs(one["y"] - other["y"]) < 2
        assert not same_line or one["x"] + one["width"] <= other["x"]
    assert all(box["x"] + box["width"] <= PHONE["width"] for box in boxes)
    assert console_errors == []
