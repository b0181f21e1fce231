"""A second accessibility review's findings (WCAG 2.2 AA) that need a browser: targets'
sizes as laid out, names as computed, and the audit filters' state after a swap.

What the HTML alone shows is tests/test_a11y_review.py; the focus under the chat's message
box is tests/browser/test_focus_not_obscured.py.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from audit.services import record
from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from governance.models import Category, User
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

AUDITOR = "aaron@example.com"


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def test_an_events_links_under_what_are_24px_targets(demo, page: Page, console_errors):
    """axe's target-size: the event's link and the note's link under it were 17px tall and
    3px apart (WCAG 2.5.8)."""
    record(
        action=AuditEvent.Action.POLICY_CHANGED,
        actor=User.objects.get(email="paula@example.com"),
        target=Category.objects.get(number=2),
    )
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/")
    links = page.locator('td[data-label="What"] > a')
    expect(links.locator("xpath=self::a[contains(@class, 'cell-note')]")).to_have_count(1)
    heights = [box["height"] for box in (link.bounding_box() for link in links.all())]
    assert heights and min(heights) >= 24, heights
    assert console_errors == []


def test_the_filters_marks_follow_the_last_filtering(demo, page: Page, console_errors):
    """Filtered in place, only the list is swapped: a refused day stayed marked once the
    filters were fine, and an unknown email was never marked."""
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/?since=2026-13-45")  # typed or linked: no date picker allows it
    since, actor = page.get_by_label("From"), page.get_by_label("Actor email")
    expect(since).to_have_attribute("aria-invalid", "true")
    expect(since).to_have_accessible_description(re.compile(r"Days run .* From: Enter a valid"))

    since.fill("2026-01-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#event-results .event-table")).to_be_visible()
    expect(since).not_to_have_attribute("aria-invalid", "true")
    expect(since).to_have_accessible_description(re.compile(r"^Days run midnight to midnight"))

    actor.fill("nobody@example.com")
    page.get_by_role("button", name="Filter").click()
    expect(actor).to_have_attribute("aria-invalid", "true")
    expect(actor).to_have_accessible_description("Actor email: No account has this email address.")
    expect(since).not_to_have_attribute("aria-invalid", "true")
    assert [error for error in console_errors if "422" not in error] == []


def test_a_category_radio_is_named_by_its_chip_and_the_whole_card_picks_it(demo, page: Page):
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    page.goto("/chat/")
    public = page.get_by_role("radio", name="1 Public", exact=True)
    expect(public).to_have_accessible_description(re.compile(r"^Information already public"))
    card = page.locator(".category-choice", has=public)
    words = card.locator(".category-summary").bounding_box()  # under the label's box
    page.mouse.click(words["x"] + 5, words["y"] + 5)
    expect(public).to_be_checked()
    card.get_by_role("link", name="What belongs here?").click()
    expect(page).to_have_url(re.compile(r"/training/cards/1/"))
