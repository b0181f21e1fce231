"""Training in a real browser: a new staff member from sign-in through the policy to the chat,
the cards on screen and in print (the overview on one A4 and one Letter page), the report.

    STEWARD_SCREENSHOTS=/tmp/shots .venv/bin/python -m pytest -m browser -k training

also saves ``training-*.png`` screenshots (screen and print) and ``training-*.pdf``.
"""

import importlib
import os
import re
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from governance.models import User
from tests.browser.conftest import PHONE, watch_console
from training import services

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("STEWARD_SCREENSHOTS", "")
A4 = {"width": 794, "height": 1123}  # CSS pixels at 96 dpi
POLICY = """## Why this policy exists

Most leaks are accidents: someone pastes a document without thinking.

## The rules

1. **Choose the category for what you paste**, not for the question you ask.
2. **Never paste credentials**, privileged legal advice or health data.
3. **Read the preview** under the message box before you send.
"""


@pytest.fixture
def demo(transactional_db):
    """The demo organisation with version 1 of the policy published by Paula."""
    seed_demo_organisation()
    paula = User.objects.get(email="paula@example.com")
    draft = services.save_draft(actor=paula, title="Using language models at work", body=POLICY,
                                change_note="")  # fmt: skip
    services.publish(actor=paula, document=draft)
    # A transactional test starts from empty tables: the migration's default questions too.
    importlib.import_module("training.migrations.0002_default_questions").add_default_questions(
        django_apps, None
    )


def shoot(page: Page, name: str, **kwargs) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=Path(SHOTS) / f"training-{name}.png", caret="initial", **kwargs)


def sign_in_to(page: Page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def test_a_new_staff_member_is_led_from_sign_in_through_the_policy_to_the_chat(
    demo, page: Page, console_errors
):
    sign_in_to(page, "alice@example.com")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Before you chat: the policy in two minutes"
    )
    expect(page.locator(".doc h2").first).to_have_text("Why this policy exists")
    expect(page.locator(".ack-cat")).to_have_count(3)  # her categories 1 and 2, and prohibited
    shoot(page, "acknowledge", full_page=True)

    # The chat is not open until she confirms.
    page.goto("/chat/")
    expect(page).to_have_url(re.compile(r"/training/acknowledge/\?next=%2Fchat%2F$"))
    page.get_by_label("I have read the policy").check()
    page.get_by_role("button", name="Acknowledge and continue").click()
    expect(page).to_have_url(re.compile(r"/chat/$"))
    expect(page.get_by_text("you acknowledged version 1")).to_be_visible()

    # Each category links to its card; the card prints.
    shoot(page, "chat-home", full_page=True)
    page.get_by_role("link", name="What belongs here?").nth(1).click()
    expect(page.get_by_role("heading", level=2, name="Internal")).to_be_visible()
    expect(page.locator(".qcard-routes li").first).to_contain_text("OpenAI business API")
    page.go_back()

    page.locator("input[name=category][value=internal]").check()
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#conversation-title")).to_have_text("New conversation")
    shoot(page, "conversation")
    page.get_by_role("link", name="category card").click()
    expect(page).to_have_url(re.compile(r"/training/cards/2/$"))
    assert console_errors == []


def test_the_cards_look_finished_on_screen_and_in_print(demo, new_context, console_errors):
    page = watch_console(new_context().new_page(), console_errors)
    sign_in_to(page, "carol@example.com")
    page.get_by_label("I have read the policy").check()
    page.get_by_role("button", name="Acknowledge and continue").click()
    expect(page).to_have_url(re.compile(r"/chat/$"))

    for number in (1, 2, 3, 4):
        page.goto(f"/training/cards/{number}/")
        expect(page.locator(".qcard")).to_be_visible()
        shoot(page, f"card-{number}", full_page=True)
    page.set_viewport_size(A4)
    page.emulate_media(media="print")
    for number in (2, 4):
        page.goto(f"/training/cards/{number}/")
        expect(page.locator(".page-head")).to_be_hidden()
        shoot(page, f"card-{number}-print", full_page=True)
        for size in ("A4", "Letter"):
            pdf = page.pdf(format=size, print_background=True)
            if SHOTS:
                (Path(SHOTS) / f"training-card-{number}-{size}.pdf").write_bytes(pdf)
            assert pdf_pages(pdf) == 1, f"card {number} takes {pdf_pages(pdf)} {size} pages"

    page.goto("/training/cards/")
    shoot(page, "overview-print", full_page=True)
    for size in ("A4", "Letter"):
        pdf = page.pdf(format=size, print_background=True)
        if SHOTS:
            (Path(SHOTS) / f"training-overview-{size}.pdf").write_bytes(pdf)
        assert pdf_pages(pdf) == 1, f"the overview takes {pdf_pages(pdf)} {size} pages"

    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/training/cards/")
    shoot(page, "overview", full_page=True)
    assert console_errors == []


def test_the_training_pages_fit_a_phone(demo, new_context, console_errors):
    page = watch_console(new_context(viewport=PHONE).new_page(), console_errors)
    sign_in_to(page, "alice@example.com")
    expect(page.get_by_role("button", name="Acknowledge and continue")).to_be_visible()
    for path in ("/training/acknowledge/", "/training/", "/training/cards/", "/training/cards/3/",
                 "/training/quiz/1/", "/training/policy/"):  # fmt: skip
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px phone"
        shoot(page, "phone-" + path.strip("/").replace("/", "-"), full_page=True)
    assert console_errors == []


def test_an_admin_sees_the_report_and_a_staff_member_takes_a_quiz(
    demo, new_context, console_errors
):
    staff = watch_console(new_context().new_page(), console_errors)
    sign_in_to(staff, "bob@example.com")
    staff.get_by_label("I have read the policy").check()
    staff.get_by_role("button", name="Acknowledge and continue").click()
    staff.goto("/training/quiz/2/")
    for fieldset in staff.locator(".quiz fieldset").all():
        fieldset.locator("input[type=radio]").first.check()
    staff.get_by_role("button", name="Check my answers").click()
    expect(staff.locator(".score")).to_be_visible()
    shoot(staff, "quiz-result", full_page=True)

    admin = watch_console(new_context().new_page(), console_errors)
    sign_in_to(admin, "paula@example.com")
    admin.goto("/training/report/")
    expect(admin.get_by_role("heading", level=1, name="Training report")).to_be_visible()
    expect(admin.locator("#people")).to_contain_text("Bob Chen")
    shoot(admin, "report", full_page=True)
    admin.goto("/training/policy/edit/")
    admin.get_by_label("Text (Markdown)").fill(
        POLICY + "4. **Check the answer**: a model can be wrong.\n"
    )
    admin.get_by_label("What changed").fill("A fourth rule: check the answer.")
    admin.get_by_role("button", name="Save draft").click()
    expect(admin.get_by_role("heading", name="Changes since version 1")).to_be_visible()
    shoot(admin, "policy-edit", full_page=True)
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.get_by_role("button", name="Publish version 2").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("version 2")
    expect(admin.locator(".diff-added")).to_contain_text("Check the answer")
    shoot(admin, "policy-version", full_page=True)

    # Bob acknowledged version 1: he may still chat, and is reminded.
    staff.goto("/training/")
    expect(staff.locator(".status-due")).to_contain_text("Version 2 of the policy was published")
    shoot(staff, "home", full_page=True)
    staff.goto("/chat/")
    expect(staff.locator(".status-due")).to_be_visible()
    assert console_errors == []


def test_after_a_refused_save_the_preview_shows_what_the_admin_typed(
    demo, page: Page, console_errors
):
    """A colleague saves the draft while Paula edits it: her save is refused, and the preview
    beside her text shows that text (not the draft she opened), with what saving replaces."""
    paula = User.objects.get(email="paula@example.com")
    services.save_draft(actor=paula, title="Policy", body=POLICY + "4. Opened.\n", change_note="")
    sign_in_to(page, "paula@example.com")
    page.goto("/training/policy/edit/")
    preview = page.locator("section[aria-labelledby=preview-heading]")
    expect(preview).to_contain_text("Opened.")
    services.save_draft(actor=paula, title="Policy", body=POLICY + "4. Colleague's.\n",
                        change_note="")  # fmt: skip
    page.get_by_label("Text (Markdown)").fill(POLICY + "4. **Typed** by Paula.\n")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("alert")).to_contain_text("after you opened it")
    expect(preview.locator("strong", has_text="Typed")).to_be_visible()
    expect(preview).not_to_contain_text("Opened.")
    expect(preview).to_contain_text("not saved")
    expect(page.locator(".diff-removed")).to_contain_text("Colleague's.")
    expect(page.get_by_label("Text (Markdown)")).to_have_value(POLICY + "4. **Typed** by Paula.\n")
    shoot(page, "policy-edit-refused", full_page=True)

    page.get_by_role("button", name="Save draft").click()  # saving again replaces it knowingly
    expect(preview).to_contain_text("saved")
    expect(preview).not_to_contain_text("not saved")
    expect(preview.locator("strong", has_text="Typed")).to_be_visible()
    refused = [error for error in console_errors if "422 (Unprocessable Entity)" in error]
    assert len(refused) == 1 and console_errors == refused  # the browser logs the refusal's 422


def test_a_draft_survives_a_new_policy_to_acknowledge(demo, page: Page, settings):
    """A version published while the conversation was open: Send goes to the policy first,
    and what was typed is back in the box after acknowledging."""
    settings.STEWARD_ACK_GRACE_DAYS = 0
    sign_in_to(page, "alice@example.com")
    page.get_by_label("I have read the policy").check()
    page.get_by_role("button", name="Acknowledge and continue").click()
    page.goto("/chat/")
    page.locator("input[name=category][value=internal]").check()
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#conversation-title")).to_have_text("New conversation")
    conversation = page.url

    paula = User.objects.get(email="paula@example.com")
    version_2 = services.save_draft(
        actor=paula, title="Using language models at work", body=POLICY + "\nCheck answers.\n",
        change_note="Check answers",
    )  # fmt: skip
    services.publish(actor=paula, document=version_2)

    draft = "Summarise the offsite plan:\nit moves to the 14th."
    page.get_by_label("Message").fill(draft)
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/training/acknowledge/"))
    page.get_by_label("I have read the policy").check()
    page.get_by_role("button", name="Acknowledge and continue").click()
    expect(page).to_have_url(conversation)
    expect(page.get_by_label("Message")).to_have_value(draft)
