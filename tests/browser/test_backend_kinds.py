"""The backend form in a real browser: each kind shows its note and the fields it needs."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from governance.models import Backend, HostingClass
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def test_the_form_follows_the_chosen_kind(demo, page: Page, console_errors: list[str]):
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto("/policy/backends/new/")
    api_version, project = page.get_by_label("API version"), page.get_by_label("Project")

    page.get_by_label("Kind").select_option("azure")
    expect(api_version).to_be_visible()
    expect(project).to_be_hidden()
    expect(page.get_by_text("Model: the deployment's name.")).to_be_visible()

    page.get_by_label("Kind").select_option("vertex")
    expect(project).to_be_visible()
    expect(api_version).to_be_hidden()

    page.get_by_label("Kind").select_option("bedrock")
    expect(project).to_be_hidden()
    expect(page.get_by_text("ACCESS_KEY_ID:SECRET_ACCESS_KEY", exact=False)).to_be_visible()
    page.get_by_label("Name").fill("Bedrock EU")
    page.get_by_label("Model").fill("eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
    page.get_by_label("Region").fill("eu-central-1")
    if os.environ.get("STEWARD_SCREENSHOTS"):
        directory = Path(os.environ["STEWARD_SCREENSHOTS"])
        directory.mkdir(parents=True, exist_ok=True)
        shot = directory / "backend-form-bedrock.png"
        page.screenshot(path=shot, full_page=True, caret="initial")
    page.get_by_role("button", name="Add backend").click()
    expect(page.get_by_role("heading", level=1, name="Bedrock EU")).to_be_visible()
    backend = Backend.objects.get(name="Bedrock EU")
    assert backend.hosting_class == HostingClass.PRIVATE_CLOUD  # the kind's usual
    assert console_errors == []
