"""The console's small inline forms answer bad input in Steward's words, as its big
forms do, rather than in the browser's bubble."""

import pytest
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from tests.browser.conftest import PHONE, sign_in, watch_console

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def test_it_explains_a_preference_out_of_range_beside_the_box(
    demo, new_context, console_errors: list[str]
):
    """The approvals form says "Give a whole number from 1 (tried first) to 1000."; the
    preference box in each row stopped 5000 with the browser's "Value must be less than or
    equal to 1000.", a bubble gone at the next tap, and never reached that message."""
    page: Page = watch_console(new_context(viewport=PHONE).new_page(), console_errors)
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto("/policy/approvals/")
    row = page.locator("#approvals-panel tbody tr").first
    row.get_by_role("spinbutton").fill("5000")

    row.get_by_role("button", name="Save").click()

    row = page.locator("#approvals-panel tbody tr").first
    said = "Give a whole number from 1 (tried first) to 1000."
    expect(row.get_by_role("alert")).to_have_text(said)
    expect(row.get_by_role("spinbutton")).to_have_value("5000")  # what was typed is kept
    # Chromium logs every 4xx fetch; the 422 is the refusal this test asked for.
    assert [e for e in console_errors if "status of 422" not in e] == []
