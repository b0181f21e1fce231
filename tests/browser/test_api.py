"""API tokens and the API docs in a real browser (htmx, the CSP, Swagger UI)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from api.models import ApiToken
from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("STEWARD_SCREENSHOTS", "")


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def _shoot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(SHOTS) / f"{name}.png", full_page=True, caret="initial")


def test_it_makes_a_token_shows_it_once_and_revokes_it(demo, page: Page, console_errors):
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    page.locator("summary").filter(has_text="Alice").click()
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", level=1, name="API tokens")).to_be_visible()
    page.get_by_label("Name").fill("notebook")
    page.get_by_label("Expires after").select_option("30")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret")
    expect(secret).to_be_visible()
    assert secret.inner_text().startswith(ApiToken.objects.get().lookup)
    # Its Copy puts the token on the clipboard, and says so.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = page.locator('[data-copy="#token-secret"]')
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret.inner_text()
    _shoot(page, "api-tokens-created")
    page.reload()
    expect(page.locator("#token-secret")).to_have_count(0)
    expect(page.get_by_role("cell", name="notebook")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked", exact=True)).to_be_visible()
    _shoot(page, "api-tokens")
    assert ApiToken.objects.get().status == "revoked"
    assert console_errors == []


def test_the_api_docs_render_under_the_csp(demo, page: Page, console_errors):
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto("/api/docs/")
    expect(page.get_by_text("/api/governance/categories/").first).to_be_visible()
    _shoot(page, "api-docs")
    assert console_errors == []


def test_a_new_tokens_page_fits_the_smallest_phone(demo, new_context, console_errors):
    """The Responses API call, one long word of code, ran past the card's edge at 320 px."""
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    page.goto("/settings/tokens/")
    page.get_by_label("Name").fill("notebook")
    page.get_by_role("button", name="Create token").click()
    call = page.locator("code", has_text="client.responses.create")
    expect(call).to_be_visible()
    card = page.locator(".token-created").bounding_box()
    for line in call.evaluate("code => [...code.getClientRects()].map(r => r.right)"):
        assert line <= card["x"] + card["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
