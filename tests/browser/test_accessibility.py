"""Accessibility in a real browser: contrast as computed, keyboard only, where focus goes.

What the HTML alone shows (error descriptions, live regions, headings) is
tests/test_accessibility.py.
"""

import importlib

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from tests.browser.conftest import sign_in, watch_console

pytestmark = pytest.mark.browser

LUMINANCE = """
const parse = c => c.match(/[\\d.]+/g).map(Number);
const lum = c => {
  const a = c.slice(0, 3).map(v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * a[0] + 0.7152 * a[1] + 0.0722 * a[2];
};
const ratio = (f, b) => Math.round(100 * (Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05)) / 100;
"""

#: WCAG 1.4.3 contrast of every visible element the selector matches, against the first
#: opaque background behind it.
CONTRAST = (
    "(selector) => {"
    + LUMINANCE
    + """
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] === 1) return c;
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll(selector)]
    .filter(e => e.getBoundingClientRect().width > 0 && e.textContent.trim())
    .map(e => ({
      text: e.textContent.trim().slice(0, 40),
      ratio: ratio(lum(parse(getComputedStyle(e).color)), lum(background(e))),
    }));
}"""
)

PLACEHOLDER_CONTRAST = (
    "(selector) => {"
    + LUMINANCE
    + """
  const field = document.querySelector(selector);
  const placeholder = lum(parse(getComputedStyle(field, '::placeholder').color));
  return ratio(placeholder, lum(parse(getComputedStyle(field).backgroundColor)));
}"""
)

QUIET_TEXT = ", ".join(
    [".muted", ".help", ".role-section > h2", ".category-summary", ".avatar", ".turn-who"]
    + [".error-code", ".entrance-note", ".entrance-brand span", ".manage-nav-title"]
)


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def _under_4_5(page: Page, paths: list[str]) -> list[tuple[str, dict]]:
    failing = []
    for path in paths:
        page.goto(path)
        failing += [
            (path, row) for row in page.evaluate(CONTRAST, QUIET_TEXT) if row["ratio"] < 4.5
        ]
    return failing


def test_quiet_text_is_at_least_4_5_to_1_on_every_background(demo, page: Page):
    """Muted and help text, the avatar's letter, an error page's big code: on white, on the
    page's background and on the pale blue of a user's message."""
    assert _under_4_5(page, ["/accounts/login/"]) == []
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    paths = ["/", "/chat/", "/settings/tokens/", "/accounts/password/change/", "/no-such-page/"]
    assert _under_4_5(page, paths) == []


def test_placeholders_are_at_least_4_5_to_1(demo, page: Page):
    """The conversation search's placeholder is the only visible text saying what it is for."""
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    page.goto("/chat/")
    assert page.evaluate(PLACEHOLDER_CONTRAST, "#conversation-search") >= 4.5


def test_escape_closes_the_user_menu_and_focus_returns_to_it(demo, page: Page):
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    menu = page.locator("details.usermenu")
    menu.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(menu.locator("summary")).to_be_focused()


def _hidden_behind(page: Page, cover: str) -> bool:
    """Whether the focused element lies wholly under an element matching ``cover``."""
    return page.evaluate(
        """(cover) => {
          const e = document.activeElement, r = e.getBoundingClientRect();
          return [...document.querySelectorAll(cover)].some(c => {
            if (c.contains(e)) return false;
            const b = c.getBoundingClientRect();
            return r.top >= b.top && r.bottom <= b.bottom && r.left >= b.left && r.right <= b.right;
          });
        }""",
        cover,
    )


def test_the_user_menu_closes_when_focus_moves_past_it(demo, page: Page):
    """Open, its panel covers the sign-in message's Dismiss button, next in the tab order."""
    sign_in(page, "alice@example.com", DEMO_PASSWORD)  # leaves "Successfully signed in"
    menu = page.locator("details.usermenu")
    menu.locator("summary").focus()
    page.keyboard.press("Enter")
    hidden = []
    inside = menu.locator(".usermenu-panel").locator("a, button").count()
    for _ in range(inside + 1):  # through the panel, and one past it
        page.keyboard.press("Tab")
        if _hidden_behind(page, ".usermenu[open] .usermenu-panel"):
            hidden.append(page.evaluate("document.activeElement.outerHTML.slice(0, 80)"))
    assert hidden == []
    expect(menu).not_to_have_attribute("open", "")


def test_shift_tab_never_hides_focus_under_the_sticky_top_bar(demo, new_context):
    page = new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto("/policy/")
    page.evaluate(
        "(() => { const footer = document.querySelector('footer.footer');"
        " footer.tabIndex = -1; footer.focus(); })()"
    )
    hidden = []
    for _ in range(80):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.classList.contains('skip-link')"):
            break
        if _hidden_behind(page, ".topbar"):
            hidden.append(page.evaluate("document.activeElement.textContent.trim().slice(0, 40)"))
    assert hidden == []


def _focused(page: Page) -> str:
    return page.evaluate(
        "document.activeElement === document.body ? 'body'"
        " : document.activeElement.outerHTML.slice(0, 120)"
    )


def test_a_scored_quiz_keeps_focus_on_its_score(demo, page: Page):
    """The form replaces itself with the scored one, taking the focused button with it."""
    # A transactional test starts from empty tables: the migration's default questions too.
    importlib.import_module("training.migrations.0002_default_questions").add_default_questions(
        django_apps, None
    )
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    page.goto("/training/quiz/1/")
    for fieldset in page.locator("#quiz-form fieldset").all():
        fieldset.locator("input[type=radio]").first.check()
    page.get_by_role("button", name="Check my answers").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#quiz-form .score")).to_be_visible()
    assert page.evaluate("document.activeElement.closest('#quiz-form .score') !== null"), _focused(
        page
    )


def test_a_refused_console_form_puts_focus_on_what_went_wrong(demo, page: Page):
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto("/policy/rules/new/")
    page.get_by_label("Kind").select_option("regex")
    page.get_by_label("Pattern").fill("(")
    page.get_by_role("button", name="Add rule").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#id_pattern")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#rule-form .form-error")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#id_name")).to_be_focused()  # the form's first field, refused too


# --- the chat -------------------------------------------------------------------------------


@pytest.fixture
def chat_page(org, answers_on_threads, new_asgi_context, console_errors) -> Page:
    page = watch_console(new_asgi_context().new_page(), console_errors)
    sign_in(page, "alice@example.com", DEMO_PASSWORD)
    page.goto("/chat/")
    page.locator("input[name=category][value=internal]").check()
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#conversation-title")).to_have_text("New conversation")
    page.wait_for_load_state()  # htmx and chat.js run after the title is there (deferred)
    return page


def test_an_answer_is_busy_while_written_and_its_end_said_once(
    org, chat_page: Page, console_errors
):
    org.external.reply = ["Three ", "short ", "chunks."]
    org.external.delay = 0.3
    chat_page.get_by_label("Message").fill("Say something short.")
    chat_page.get_by_role("button", name="Send").click()

    answer = chat_page.locator("#message-list .turn-assistant")
    expect(answer.locator(".turn-body")).to_contain_text("Three")
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(chat_page.locator("#message-list")).not_to_have_attribute("aria-live", "polite")

    expect(answer).to_have_class("turn turn-assistant turn-done")
    expect(answer).not_to_have_attribute("aria-busy", "true")
    expect(chat_page.locator("#answer-status")).to_have_text("The answer is complete.")
    assert [row for row in chat_page.evaluate(CONTRAST, QUIET_TEXT) if row["ratio"] < 4.5] == []
    assert console_errors == []


def test_a_stopped_answer_says_so(org, chat_page: Page):
    org.external.reply = ["One ", "word ", "at ", "a ", "time ", "for ", "a ", "while."]
    org.external.delay = 0.5
    chat_page.get_by_label("Message").fill("Take your time.")
    chat_page.get_by_role("button", name="Send").click()
    answer = chat_page.locator("#message-list .turn-assistant")
    expect(answer.locator(".turn-body")).to_contain_text("One")
    answer.get_by_role("button", name="Stop").click()
    expect(answer).to_have_class("turn turn-assistant turn-cancelled")
    expect(chat_page.locator("#answer-status")).to_have_text("The answer was stopped.")


def test_the_same_preview_again_is_not_read_out_again(chat_page: Page):
    """The preview sits in a live region: swapped in at every pause in typing, the same words
    were read out again and again. The same preview stays as it is; a new one replaces it."""
    box = chat_page.get_by_label("Message")
    box.press_sequentially("Hello there")
    expect(chat_page.locator("#preview")).to_contain_text("Nothing recognised to replace")
    chat_page.locator("#preview").evaluate("node => { node.dataset.seen = 'yes'; }")
    with chat_page.expect_response(lambda r: "/preview/" in r.url):
        box.press_sequentially(", friend")
    chat_page.wait_for_timeout(300)  # the swap htmx would have done
    expect(chat_page.locator("#preview")).to_have_attribute("data-seen", "yes")

    with chat_page.expect_response(lambda r: "/preview/" in r.url):
        box.press_sequentially(" write to jane.roe@example.org")
    expect(chat_page.locator("#preview")).to_contain_text("Some details will be replaced")
    expect(chat_page.locator("#preview")).not_to_have_attribute("data-seen", "yes")
