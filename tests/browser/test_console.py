"""The policy console in a real browser: add a backend, approve it, see a refusal."""

import pytest
from playwright.sync_api import Page, expect

from governance.demo import DEMO_PASSWORD, seed_demo_organisation
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

KEY = "sk-browser-0123456789abcdef"


@pytest.fixture
def demo(transactional_db):
    seed_demo_organisation()


def test_it_adds_a_backend_approves_it_and_refuses_a_breaking_approval(
    demo, page: Page, console_errors: list[str]
):
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto("/policy/")
    page.get_by_role("link", name="Add backend").click()

    # 1. A backend, with a key that is sealed and never shown again.
    page.get_by_label("Name").fill("Hosted Llama")
    page.get_by_label("Kind").select_option("openai")
    page.get_by_label("Base URL").fill("https://user:pw@llm.example.com/v1")
    page.get_by_label("Model").fill("llama-3.3-70b")
    page.get_by_label("API key").fill(KEY)
    page.get_by_label("Hosting class").select_option("external_api")
    page.get_by_label("Region").fill("eu")
    page.get_by_label("Provider retention (days)").fill("0")
    page.get_by_role("button", name="Add backend").click()
    expect(page.get_by_text("Remove the user name and password")).to_be_visible()  # inline, htmx
    page.get_by_label("Base URL").fill("https://llm.example.com/v1")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Add backend").click()
    expect(page.get_by_role("heading", level=1, name="Hosted Llama")).to_be_visible()
    expect(page.get_by_text("a key is stored")).to_be_visible()
    assert KEY not in page.content()

    # 2. Approve it for Public.
    page.get_by_role("link", name="Approve for a category").click()
    page.get_by_label("Category", exact=True).select_option("public")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Hosted Llama approved for Public.")).to_be_visible()
    expect(page.locator("#approvals-panel tbody tr", has_text="Hosted Llama")).to_have_count(1)

    # 3. Confidential data may not go to an external API: refused, the requirement named.
    page.get_by_label("Category", exact=True).select_option("confidential")
    page.get_by_label("Backend", exact=True).select_option(label="Hosted Llama")
    page.get_by_role("button", name="Approve").click()
    refusal = page.locator(".form-error")
    expect(refusal).to_contain_text(
        "Confidential / personal data needs an on-premise or private cloud backend"
    )
    expect(refusal).to_contain_text("Hosted Llama is an external API backend")
    expect(page.locator("#approvals-panel tbody tr", has_text="Hosted Llama")).to_have_count(1)

    # 4. Revoking asks first.
    page.once("dialog", lambda dialog: dialog.accept())
    row = page.locator("#approvals-panel tbody tr", has_text="Hosted Llama")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Hosted Llama no longer serves Public.")).to_be_visible()
    expect(page.locator("#approvals-panel tbody tr", has_text="Hosted Llama")).to_have_count(0)

    # Chromium logs every 4xx fetch; the 422s are the refusals this test asked for.
    assert [e for e in console_errors if "status of 422" not in e] == []


def test_a_term_file_over_the_limit_is_refused_before_it_is_sent(
    demo, page: Page, console_errors: list[str]
):
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto("/policy/term-lists/new/")
    page.get_by_label("Name").fill("Key accounts")
    page.get_by_label("Kind").select_option("client")
    too_big = {"name": "clients.csv", "mimeType": "text/csv", "buffer": b"Acme,\n" * 1_100_000}
    upload = page.get_by_label("Or upload a CSV file")
    upload.set_input_files(too_big)
    posts = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    page.get_by_role("button", name="Add list").click()
    expect(page).to_have_url("/policy/term-lists/new/")
    message = upload.evaluate("input => input.validationMessage")
    assert message == "This file is 6.3 MB; the limit is 4 MB."
    page.wait_for_timeout(500)
    assert posts == []  # nothing sent
    # A file within the limit goes, and the form takes it.
    upload.set_input_files({"name": "clients.csv", "mimeType": "text/csv", "buffer": b"Acme\n"})
    assert upload.evaluate("input => input.validationMessage") == ""
    page.get_by_role("button", name="Add list").click()
    expect(page.get_by_role("heading", level=1, name="Key accounts")).to_be_visible()


def test_testing_a_connection_shows_in_the_history_at_once(
    demo, page: Page, console_errors: list[str]
):
    """The health panel changed in place; the History beside it said nothing of the test
    until the page was loaded again."""
    from tests.factories import make_backend

    backend = make_backend(name="Nowhere", kind="openai", base_url="http://127.0.0.1:9/v1")
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto(f"/policy/backends/{backend.public_id}/")
    history = page.locator("#history")
    expect(history).to_contain_text("Nothing recorded yet.")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#backend-health")).to_contain_text("Checked")
    expect(history).to_contain_text("Connection tested")
    expect(history.get_by_text("failed")).to_be_visible()
    assert console_errors == []


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        ("500", "Something went wrong on Steward's side (error 500). Reload the page"),
        ("403", "you may have been signed out, or no longer hold the role it needs. Nothing"),
        ("network", "Steward could not be reached. Reload the page"),
    ],
)
def test_a_request_that_fails_says_so_instead_of_doing_nothing(
    demo, page: Page, console_errors: list[str], failure, said
):
    """An htmx button whose request failed changed nothing on screen: the click seemed
    ignored. A flash at the top of the page says what happened, once."""
    from tests.factories import make_backend

    backend = make_backend(name="Nowhere", kind="openai", base_url="http://127.0.0.1:9/v1")
    sign_in(page, "paula@example.com", DEMO_PASSWORD)
    page.goto(f"/policy/backends/{backend.public_id}/")
    if failure == "network":
        page.route("**/test/", lambda route: route.abort())
    else:
        page.route("**/test/", lambda route: route.fulfill(status=int(failure), body="no"))
    button = page.get_by_role("button", name="Test connection")
    button.click()
    alert = page.locator("#messages").get_by_role("alert")
    expect(alert).to_contain_text(said)
    button.click()
    expect(alert).to_have_count(1)  # the newest failure, not a pile of them
    alert.get_by_role("button", name="Dismiss").click()
    expect(alert).to_have_count(0)
