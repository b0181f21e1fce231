"""Every page of the demo organisation opens cleanly, on a desktop and on a phone."""

import pytest
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from tests.browser.conftest import PHONE, sign_in, watch_console

pytestmark = pytest.mark.browser

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
