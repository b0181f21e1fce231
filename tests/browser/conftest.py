"""Headless Chromium against pytest-django's live server.

Debian's ``chromium`` package, driven by Playwright's sync API (we never run
``playwright install``). One browser per session; each test gets a fresh
context (cookies, storage) and page, with ``base_url`` pointing at the live
server so tests say ``page.goto("/policy/")``.
"""

import os
from collections.abc import Callable, Iterator

import pytest
from django.db import connection
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Route,
    expect,
    sync_playwright,
)

CHROMIUM = os.environ.get("STEWARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in this thread; Django would then refuse
    the ORM calls that fixtures and factories make from it. Only for browser tests."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: Browser, live_server) -> Iterator[Callable[..., BrowserContext]]:
    """Open a browser context on the live server; all are closed after the test."""
    contexts: list[BrowserContext] = []

    def open_context(viewport: dict = DESKTOP, **kwargs) -> BrowserContext:
        context = browser.new_context(
            base_url=live_server.url, viewport=viewport, locale="en-GB", **kwargs
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def console_errors() -> list[str]:
    """Console errors and uncaught exceptions of ``page`` (CSP violations land here)."""
    return []


def watch_console(page: Page, errors: list[str]) -> Page:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text} ({message.location.get('url', '')})")

    def on_page_error(error: Error) -> None:
        errors.append(f"{page.url}: uncaught {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return page


@pytest.fixture
def page(new_context, console_errors: list[str]) -> Page:
    return watch_console(new_context().new_page(), console_errors)


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in through the real login form and wait for the dashboard."""
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Good to see you")).to_be_visible()


@pytest.fixture
def login() -> Callable[[Page, str, str], None]:
    return sign_in


def one_at_a_time(page: Page, url: str) -> Page:
    """Fetch the requests matching ``url`` one after another.

    pytest-django's live server shares one in-memory SQLite connection among
    its threads, so pages that fetch several database-backed resources at once
    (the audit dashboard's four charts, each saving the session) collide there
    with "cannot start a transaction within a transaction". Other databases
    give each thread its own connection and need none of this.
    """
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        return page
    waiting: list[Route] = []
    busy = False

    def handle(route: Route) -> None:
        nonlocal busy
        waiting.append(route)
        if busy:
            return  # the handler already fetching will take this one next
        busy = True
        try:
            while waiting:
                request = waiting.pop(0)
                request.fulfill(response=request.fetch())
        finally:
            busy = False

    page.route(url, handle)
    return page
