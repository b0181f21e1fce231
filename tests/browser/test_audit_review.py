"""The auditor's review (helper 3), in a real browser: what only a browser shows."""

import re

import pytest
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD
from tests.browser.audit_data import seed_audit_trail
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

AUDITOR = "aaron@example.com"


@pytest.fixture
def trail(transactional_db):
    return seed_audit_trail(days=3, verified=False)


def test_verify_now_keeps_the_filters_applied_in_place(
    trail, page: Page, console_errors: list[str]
):
    """Filters applied without a reload change the page's address, not the chain panel's
    form: "Verify now" went back to the whole trail. It returns to the filtered list."""
    sign_in(page, AUDITOR, DEMO_PASSWORD)
    page.goto("/audit/")
    page.get_by_label("Outcome").select_option("blocked")
    expect(page).to_have_url(re.compile(r"outcome=blocked"))

    page.get_by_role("button", name="Verify now").click()

    expect(page).to_have_url(re.compile(r"verifying=\d+"))
    expect(page).to_have_url(re.compile(r"outcome=blocked"))
    expect(page.get_by_label("Outcome")).to_have_value("blocked")
    outcomes = page.locator("#event-results td[data-label=Outcome]")
    expect(outcomes.first).to_have_text("Blocked")
    expect(outcomes.filter(has_not_text="Blocked")).to_have_count(0)
    assert console_errors == []
