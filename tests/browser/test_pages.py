"""Every page of the demo organisation opens cleanly, on a desktop and on a phone."""

import pytest
from playwright.sync_api import Page, expect

from chat import services as chat
from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from governance.models import Category, User
from tests.browser.conftest import PHONE, sign_in, watch_console

pytestmark = pytest.mark.browser
SMALLEST_PHONE = {"width": 320, "height": 640}

# demo user -> the pages their roles open
PAGES = {
    "alice@example.com": ["/", "/chat/", "/accounts/password/change/", "/accounts/2fa/"],
    "paula@example.com": ["/", "/policy/", "/policy/users/"],
    "priya@example.com": ["/", "/privacy/"],
    "aaron@example.com": ["/", "/audit/"],
}


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def visit(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, f"{path} answered {response.status}"
    expect(page.locator(".error-code")).to_have_count(0)
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("email", list(PAGES))
def test_it_opens_each_page_without_errors(demo, page: Page, console_errors: list[str], email):
    sign_in(page, email, DEMO_PASSWORD)

    for path in PAGES[email]:
        visit(page, path)

    assert console_errors == []


@pytest.mark.parametrize("email", list(PAGES))
def test_it_fits_each_page_on_a_phone(demo, new_context, console_errors: list[str], email):
    page = watch_console(new_context(viewport=PHONE).new_page(), console_errors)
    sign_in(page, email, DEMO_PASSWORD)

    for path in PAGES[email]:
        visit(page, path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px phone"

    assert console_errors == []


def test_a_conversation_row_on_the_dashboard_has_no_gap_on_a_phone(
    demo, new_context, console_errors: list[str]
):
    alice = User.objects.get(email="alice@example.com")
    chat.start_conversation(owner=alice, category=Category.objects.get(slug="internal"))
    page = watch_console(new_context(viewport=PHONE).new_page(), console_errors)
    sign_in(page, "alice@example.com", DEMO_PASSWORD)

    row = page.locator(".dashboard-conversations li").first
    expect(row).to_contain_text("New conversation")
    # A title line and a chip line: stacked, the title once stood ~190 px tall.
    height = row.bounding_box()["height"]
    assert height < 90, f"a conversation row is {height}px tall on a phone"
    assert console_errors == []


def test_the_authenticator_key_wraps_and_copies_on_the_smallest_phone(
    demo, new_context, console_errors: list[str]
):
    """A field cut the key off at 320 px, and there was no Copy."""
    context = new_context(viewport=SMALLEST_PHONE)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = watch_console(context.new_page(), console_errors)
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    visit(page, "/accounts/2fa/totp/activate/")

    key = page.locator("#authenticator-key")
    box = key.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= SMALLEST_PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= SMALLEST_PHONE["width"]
    page.get_by_role("button", name="Copy the authenticator key").click()
    assert page.evaluate("navigator.clipboard.readText()") == key.inner_text()
    assert console_errors == []
