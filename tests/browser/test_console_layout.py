"""The policy console's pages as a policy admin sees them, on a desktop and on a phone:
long settings, long names and notes stay inside the page."""

import pytest
from playwright.sync_api import Page, expect

from governance import services
from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from governance.forms import BackendForm, CategoryForm
from governance.models import User
from governance.roles import Role
from tests.browser.conftest import DESKTOP, PHONE, sign_in, watch_console
from tests.factories import make_user

pytestmark = pytest.mark.browser

DESCRIPTION = (
    "Anything from a personnel file: contracts, salaries, performance reviews, sick notes. "
    "Never paste a colleague's file."
)


@pytest.fixture
def paula(transactional_db) -> User:
    seed_demo_organisation()
    return User.objects.get(email="paula@example.com")


def _page_at(new_context, viewport: dict, console_errors: list[str]) -> Page:
    page = watch_console(new_context(viewport=viewport).new_page(), console_errors)
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    return page


def _page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_it_gives_a_new_categorys_settings_room_in_its_history(
    paula, new_context, console_errors: list[str], viewport: dict
):
    """The creation event lists every setting; the longest name ("Require a signed data
    processing agreement") took its column's full width, and the description beside it was
    squeezed to a word a line (a letter a line on a phone)."""
    form = CategoryForm(
        data={
            "number": "6",
            "slug": "hr-records",
            "name": "HR records",
            "summary": "Personnel files.",
            "description": DESCRIPTION,
            "require_dpa": "on",
        }  # fmt: skip
    )
    assert form.is_valid(), form.errors
    services.save_category(category=None, values=form.values(), actor=paula)
    page = _page_at(new_context, viewport, console_errors)

    page.goto("/policy/categories/hr-records/")
    table = page.locator("#history table.changes").first
    expect(table).to_contain_text("Require a signed data processing agreement")
    value = table.locator("tr", has_text="Description").locator("td")
    table_width = table.bounding_box()["width"]
    assert value.bounding_box()["width"] >= table_width / 2, "the description is squeezed"
    assert _page_width(page) <= viewport["width"]
    assert console_errors == []


def test_it_keeps_a_persons_history_note_inside_its_card(
    paula, new_context, console_errors: list[str]
):
    """ "Sign-ins are not listed here…" stayed on one line beside "History", past the card and
    the screen, and the page scrolled sideways at 1280 px."""
    alice = User.objects.get(email="alice@example.com")
    page = _page_at(new_context, DESKTOP, console_errors)

    page.goto(f"/policy/users/{alice.public_id}/")
    card = page.locator("#history-heading").locator("xpath=ancestor::section").bounding_box()
    note = page.get_by_text("Sign-ins are not listed here").bounding_box()
    assert note["x"] + note["width"] <= card["x"] + card["width"]
    assert _page_width(page) <= DESKTOP["width"]
    assert console_errors == []


def test_it_wraps_a_backends_name_of_one_long_word_on_a_phone(
    paula, new_context, console_errors: list[str]
):
    """A name without spaces nor hyphens (up to 80 characters) ran past the phone's screen in the
    page's heading."""
    name = "Llama33_70B_Instruct_Q4_K_M_on_the_second_GPU_box_in_the_Frankfurt_rack"
    form = BackendForm(
        data={
            "name": name,
            "kind": "ollama",
            "base_url": "http://gpu-box:11434",
            "model": "llama3.3",
            "hosting_class": "on_prem",
            "region": "eu",
        }  # fmt: skip
    )
    assert form.is_valid(), form.errors
    backend = services.save_backend(backend=None, values=form.values(), credential="", actor=paula)
    page = _page_at(new_context, PHONE, console_errors)

    page.goto(f"/policy/backends/{backend.public_id}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    assert _page_width(page) <= PHONE["width"]
    assert console_errors == []


def test_it_wraps_a_long_email_address_in_the_people_list_on_a_phone(
    paula, new_context, console_errors: list[str]
):
    """The stacked list's cell is the phone's width: a long address ran past its edge and
    was cut off."""
    email = "firstname.middlename.lastname.contractor@emea.subsidiary.example-group.com"
    make_user(email, Role.STAFF, full_name="Maximiliane Oberhofer-Lindqvist")
    page = _page_at(new_context, PHONE, console_errors)

    page.goto("/policy/users/")
    shown = page.locator("#people-list").get_by_text(email).bounding_box()
    assert shown["x"] + shown["width"] <= PHONE["width"]
    assert console_errors == []
