"""Headless Chromium against pytest-django's live server.

Debian's ``chromium`` package, driven by Playwright's sync API (we never run
``playwright install``). One browser per session; each test gets a fresh
context (cookies, storage) and page, with ``base_url`` pointing at the live
server so tests say ``page.goto("/policy/")``.
"""

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
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

from tests.chat.conftest import external_llm, local_llm, org  # noqa: F401  (chat pages)

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


def _contexts_on(browser: Browser, base_url: str) -> Iterator[Callable[..., BrowserContext]]:
    contexts: list[BrowserContext] = []

    def open_context(viewport: dict = DESKTOP, **kwargs) -> BrowserContext:
        context = browser.new_context(
            base_url=base_url, viewport=viewport, locale="en-GB", **kwargs
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def new_context(browser: Browser, live_server) -> Iterator[Callable[..., BrowserContext]]:
    """Open a browser context on the live server; all are closed after the test."""
    yield from _contexts_on(browser, live_server.url)


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


# --- pages that stream: an ASGI server, answers on threads ---------------------------------


@pytest.fixture
def asgi_server(transactional_db, monkeypatch) -> Iterator[str]:
    """Uvicorn serving ``config.asgi`` on a free loopback port; yields its base URL.

    ``live_server`` is a threaded WSGI server, and under WSGI Django buffers an
    async streaming response until it ends: a chat answer would arrive in one
    piece. Uvicorn runs the real ASGI application in a thread of this process,
    so it sees the test database, settings and monkeypatches.
    """
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "uvicorn's request threads cannot share pytest-django's in-memory SQLite test "
            "database; run the browser tests on PostgreSQL (DATABASE_URL)"
        )
    import uvicorn

    from config.asgi import application

    # Under ASGI a request's connection stays with its thread, which is kept for the next
    # request (or shared by the streams): a persistent one would keep the test database
    # from being flushed and dropped.
    monkeypatch.setitem(connections.settings[DEFAULT_DB_ALIAS], "CONN_MAX_AGE", 0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            application, lifespan="on", ws="none", log_level="warning", timeout_graceful_shutdown=5
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="asgi-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture
def new_asgi_context(browser: Browser, asgi_server: str) -> Iterator[Callable[..., BrowserContext]]:
    """Like ``new_context``, on the ASGI server."""
    yield from _contexts_on(browser, asgi_server)


@pytest.fixture
def answers_on_threads(monkeypatch) -> Iterator[list[threading.Thread]]:
    """Each answer generated on a thread of its own, as a worker would.

    Celery is eager in the test settings, so the POST that sends a message would
    return only once the whole answer was written, and the page would never see
    it stream. Threads still running at the end are waited for.
    """
    from chat import answering
    from chat.services import sending

    threads: list[threading.Thread] = []

    def generate(message_id: int) -> None:
        try:
            answering.generate_answer(message_id)
        finally:
            connection.close()  # this thread's own connection

    def enqueue_answer(message_id: int, queue: str | None = None, **_) -> bool:
        thread = threading.Thread(
            target=generate, args=[message_id], name=f"answer-{message_id}", daemon=True
        )
        threads.append(thread)
        thread.start()
        return True

    monkeypatch.setattr(sending, "enqueue_answer", enqueue_answer)
    yield threads
    for thread in threads:
        thread.join(timeout=30)
