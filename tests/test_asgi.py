"""The ASGI application: /v1/ through the lean handler, answer streams and pages through
Django's full stack (streams on the shared thread, pages on threads kept between requests).

Requests are made in-process, straight to ``config.asgi.application``, as a server would.
"""

import asyncio
import itertools
import json
import re
import threading
import time
from asyncio import Task

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import request_started
from django.db import connection
from django.http import HttpResponse

from chat.models import Message
from config import connections as kept
from config.asgi import PageHandler, application
from config.bodies import MAX_BODY_BYTES
from config.middleware import SESSION_AUTH_STARTED
from governance.roles import Role
from tests.factories import make_done_answer, make_user
from tests.garbage import cycles_left

# The handlers check the database connections of the threads they run in (as they do in
# production: no test transaction, and the request signals left connected).
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_kept_connections"),
]


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _scope(method: str, path: str, host: str, headers: dict[str, str]) -> dict:
    """An HTTP request's scope, as uvicorn gives it to the application."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (name.lower().encode(), value.encode())
            for name, value in {"Host": host, **headers}.items()
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(path: str, host: str, headers: dict[str, str]) -> list[dict]:
    """What the application sends for a GET of ``path``."""
    scope = _scope("GET", path, host, headers)
    sent: list[dict] = []
    body_given = False
    complete = asyncio.Event()

    async def receive() -> dict:
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        # As uvicorn: a response sent whole ends the request; until then, the client waits.
        await complete.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            complete.set()

    await application(scope, receive, send)
    return sent


def get(path: str, *, host: str = "127.0.0.1", **headers: str) -> HttpResponse:
    """What the application sent, as a response (its headers and whole body)."""
    return _response(async_to_sync(_call)(path, host, headers))


def serve(path: str, *, host: str = "127.0.0.1", **headers: str) -> HttpResponse:
    """:func:`get` from a thread with no event loop, as a server calls: asgiref's shared
    thread is then its own (under ``async_to_sync`` it would be this test's thread)."""
    return _response(asyncio.run(_call(path, host, headers)))


def _response(sent: list[dict]) -> HttpResponse:
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    response = HttpResponse(b"".join(m.get("body", b"") for m in bodies), status=start["status"])
    cookies = []
    for name, value in start["headers"]:
        if name.lower() == b"set-cookie":
            cookies.append(value.decode("latin-1"))
        else:
            response[name.decode("latin-1")] = value.decode("latin-1")
    response.set_cookies = cookies  # type: ignore[attr-defined]
    return response


def test_it_answers_an_api_request_without_a_token_with_an_openai_error():
    response = get("/v1/models")
    assert response.status_code == 401
    assert json.loads(response.content) == {
        "error": {
            "message": "Send a personal API token: 'Authorization: Bearer <token>'.",
            "type": "authentication_error",
            "param": None,
            "code": "missing_api_key",
        }
    }
    assert response["Content-Type"] == "application/json"


def test_it_tags_an_api_response_with_a_request_id():
    assert re.fullmatch(r"[0-9a-f]{32}", get("/v1/models")["X-Request-ID"])
    assert get("/v1/models", **{"X-Request-ID": "proxy-42.a_b"})["X-Request-ID"] == "proxy-42.a_b"
    replaced = get("/v1/models", **{"X-Request-ID": "two words"})["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)


def test_it_sends_the_security_headers_with_an_api_response():
    response = get("/v1/models")
    for name, value in SECURITY_HEADERS.items():
        assert response[name] == value


def test_it_refuses_an_api_request_for_a_host_not_allowed():
    response = get("/v1/models", host="steward.evil.example")
    assert response.status_code == 400
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_spares_an_api_request_the_request_signals():
    # Their receivers check the database connections of asgiref's shared thread, which the
    # API does not use: two trips to that thread and back per request, for nothing.
    heard = []

    def receiver(sender, **kwargs):
        heard.append(sender)

    request_started.connect(receiver)
    try:
        assert get("/v1/models").status_code == 401
        assert heard == []
        get("/healthz")
        assert heard  # a page still sends them
    finally:
        request_started.disconnect(receiver)


@pytest.mark.parametrize("path", ["/v1/models", "/", "/healthz"])
def test_a_request_leaves_no_reference_cycle_behind(path):
    # Its objects are freed as soon as it ends; in a cycle they waited for the garbage
    # collector, whose full rounds took ~200 ms of a web process's time (config.heap).
    get(path)  # the first of a kind loads and caches what later ones reuse
    with cycles_left(ASGIRequest, Task) as left:
        get(path)
    assert left == []


def test_it_leaves_the_pages_middlewares_out_of_the_api():
    response = get("/v1/models")
    assert "Content-Security-Policy" not in response  # CSPMiddleware, pages only
    assert "X-Frame-Options" not in response  # XFrameOptionsMiddleware, pages only


def test_it_sends_a_page_through_the_full_stack():
    response = get("/", **{"X-Request-ID": "page-1"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"  # authentication ran
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Request-ID"] == "page-1"
    for name, value in SECURITY_HEADERS.items():
        assert response[name] == value


# --- answer streams: every middleware, no thread of their own ------------------------------


@pytest.fixture
def answer(member):
    return make_done_answer(member)


def _stream_url(answer: Message) -> str:
    return f"/chat/m/{answer.public_id}/stream/"


def _signed_in(client, user) -> dict[str, str]:
    """Headers of an EventSource request with ``user``'s session cookie."""
    client.force_login(user)
    return {
        "Accept": "text/event-stream",
        "Cookie": f"steward_session={client.session.session_key}",
    }


def test_it_streams_an_answer_through_every_middleware(client, member, answer, redis_server):
    response = serve(_stream_url(answer), **_signed_in(client, member), **{"X-Request-ID": "s-1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert b"event: end" in response.content
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Request-ID"] == "s-1"
    assert "HX-Request" in response["Vary"]
    for name, value in SECURITY_HEADERS.items():
        assert response[name] == value
    # The idle timeout slides with the stream's request too (its first in a minute).
    assert any(c.startswith("steward_session=") for c in response.set_cookies)


def test_it_sends_an_anonymous_stream_request_to_sign_in(answer):
    response = serve(_stream_url(answer), Accept="text/event-stream")
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={_stream_url(answer)}"


def test_it_refuses_a_stream_for_a_host_not_allowed(client, member, answer):
    response = serve(_stream_url(answer), host="steward.evil.example", **_signed_in(client, member))
    assert response.status_code == 400


@pytest.mark.parametrize(("roles", "status"), [((Role.STAFF,), 404), ((), 403)])
def test_it_streams_an_answer_to_its_author_only(client, answer, roles, status):
    someone = make_user("someone@example.com", *roles)
    assert serve(_stream_url(answer), **_signed_in(client, someone)).status_code == status


def test_it_ends_a_session_past_its_lifetime_on_a_stream_request(client, member, answer, settings):
    headers = _signed_in(client, member)
    session = client.session
    session[SESSION_AUTH_STARTED] = time.time() - settings.STEWARD_SESSION_MAX_AGE - 1
    session.save()
    response = serve(_stream_url(answer), **headers)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_sends_an_admin_without_mfa_from_a_stream_to_enrol(client, answer, settings):
    settings.STEWARD_REQUIRE_MFA = True
    admin = make_user("ada@example.com", Role.STAFF, Role.POLICY_ADMIN)
    answer.conversation.owner = admin
    answer.conversation.save()
    response = serve(_stream_url(answer), **_signed_in(client, admin))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/totp/activate/"


def _threads_and_connections():
    """(thread, database connection) of each request from now on, seen as it starts."""
    seen: list[tuple[int, int | None]] = []

    def note(**kwargs):
        connection.ensure_connection()
        seen.append((threading.get_ident(), id(connection.connection)))

    request_started.connect(note, weak=False)
    return seen, lambda: request_started.disconnect(note)


def test_it_opens_streams_on_the_shared_thread_keeping_its_connection(
    client, member, answer, redis_server
):
    headers = _signed_in(client, member)
    seen, stop = _threads_and_connections()
    try:
        for _ in range(2):
            assert serve(_stream_url(answer), **headers).status_code == 200
    finally:
        stop()
    (first_thread, first_connection), (second_thread, second_connection) = seen
    assert first_thread == second_thread != threading.get_ident()
    if connection.vendor == "postgresql":  # SQLite's CONN_MAX_AGE is 0: closed after each
        assert first_connection == second_connection


def test_it_runs_pages_on_kept_threads_keeping_their_connections(client, member):
    headers = _signed_in(client, member)
    del headers["Accept"]
    seen, stop = _threads_and_connections()
    try:
        for _ in range(3):
            assert serve("/chat/", **headers).status_code == 200
    finally:
        stop()
    threads = {thread for thread, _ in seen}
    assert len(threads) == 1 and threads != {threading.get_ident()}
    if connection.vendor == "postgresql":
        assert len({connection_id for _, connection_id in seen}) == 1


def test_it_checks_a_kept_connection_only_once_it_sat_idle(client, member, checks, monkeypatch):
    headers = _signed_in(client, member)
    del headers["Accept"]
    for _ in range(3):
        assert serve("/chat/", **headers).status_code == 200
    assert checks == []  # used a moment ago, each time
    later = time.monotonic() + kept.CHECK_AFTER_IDLE_SECONDS + 1
    monkeypatch.setattr(kept.time, "monotonic", lambda: later)
    assert serve("/chat/", **headers).status_code == 200
    if connection.vendor == "postgresql":  # SQLite's are closed after each request
        assert checks == ["default"]


def test_it_keeps_only_a_few_idle_threads():
    handler = PageHandler()
    borrowed = [handler._borrow() for _ in range(PageHandler.IDLE_THREADS + 2)]
    assert len(set(borrowed)) == len(borrowed)  # none idle yet: each request gets a new one
    for executor in borrowed:
        handler._give_back(executor)
    assert handler._idle == borrowed[: PageHandler.IDLE_THREADS]
    assert all(executor._shutdown for executor in borrowed[PageHandler.IDLE_THREADS :])
    assert handler._borrow() is borrowed[PageHandler.IDLE_THREADS - 1]  # the last one back


async def _post(path: str, chunks, *, declared: int | None) -> tuple[list[dict], int]:
    """What the application sends for a POST whose body comes as ``chunks``, and how many
    messages it took from ``receive``."""
    headers = {"Content-Type": "application/json"}
    if declared is not None:
        headers["Content-Length"] = str(declared)
    scope = _scope("POST", path, "127.0.0.1", headers)
    sent, taken = [], 0
    chunks = iter(chunks)

    async def receive() -> dict:
        nonlocal taken
        taken += 1
        chunk = next(chunks, None)
        if chunk is None:
            await asyncio.sleep(3600)  # the client waits for its answer
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(application(scope, receive, send), timeout=30)
    return sent, taken


MEGABYTE = b"x" * (1024 * 1024)


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/v1/chat/completions", "/api/governance/categories/"]
)
def test_it_refuses_a_body_declared_too_large_without_reading_it(path):
    """In the shape each kind of client reads: OpenAI's error for /v1/, the REST API's
    ``detail`` for /api/ (both JSON), words for a page."""
    sent, taken = async_to_sync(_post)(path, [], declared=MAX_BODY_BYTES + 1)
    response = _response(sent)
    assert response.status_code == 413 and taken == 0
    assert response["X-Content-Type-Options"] == "nosniff"
    if path.startswith("/v1/"):
        assert json.loads(response.content)["error"]["code"] == "request_too_large"
    elif path.startswith("/api/"):
        assert json.loads(response.content)["detail"].startswith("The request body is larger")
    else:
        assert response.content.decode().startswith("The request body is larger than")
        assert response.content.decode().endswith("nothing of it was kept. Send less.")


def test_it_stops_reading_an_undeclared_body_once_past_the_limit():
    more_than_enough = itertools.repeat(MEGABYTE, MAX_BODY_BYTES // len(MEGABYTE) + 20)
    sent, taken = async_to_sync(_post)("/accounts/login/", more_than_enough, declared=None)
    assert _response(sent).status_code == 413
    assert taken == MAX_BODY_BYTES // len(MEGABYTE) + 1


def test_the_server_stopping_lets_answers_end_then_closes_the_backends_clients(db):
    from api import relay
    from chat.llm.adapter import _async_clients

    happened = []

    class Client:
        async def close(self):
            happened.append("clients closed")

    async def answer():
        await asyncio.sleep(0.05)
        happened.append("answer ended")

    async def serve_and_stop():
        _async_clients[asyncio.get_running_loop()] = {"a backend": Client()}
        task = asyncio.get_running_loop().create_task(answer())
        relay._on_loop.add(task)
        task.add_done_callback(relay._on_loop.discard)
        messages = asyncio.Queue()
        sent = []

        async def send(message):
            sent.append(message["type"])

        for kind in ("lifespan.startup", "lifespan.shutdown"):
            messages.put_nowait({"type": kind})
        await application({"type": "lifespan", "asgi": {"version": "3.0"}}, messages.get, send)
        return sent, _async_clients.get(asyncio.get_running_loop())

    sent, left = asyncio.run(serve_and_stop())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert happened == ["answer ended", "clients closed"]
    assert left is None


def _start_server() -> list[dict]:
    sent = []

    async def start():
        messages = asyncio.Queue()
        messages.put_nowait({"type": "lifespan.startup"})
        messages.put_nowait({"type": "lifespan.shutdown"})

        async def send(message):
            sent.append(message)

        await application({"type": "lifespan", "asgi": {"version": "3.0"}}, messages.get, send)

    asyncio.run(start())
    return sent


def test_the_server_does_not_start_under_another_subject_index_key(transactional_db, settings):
    """It would index new messages where nobody finds them, even once the key is mended."""
    from chat import index_key
    from chat.models import SubjectMention

    answer = make_done_answer(make_user("ann@example.com", Role.STAFF))
    index_key.stamp()
    SubjectMention.objects.create(digest="d" * 32, kind="EMAIL_ADDRESS",
                                  conversation=answer.conversation)  # fmt: skip
    settings.STEWARD_SUBJECT_INDEX_KEY = "another key"
    [failed] = _start_server()
    assert failed["type"] == "lifespan.startup.failed"
    assert "written with another key" in failed["message"]

    from config.celery import _refused_under_another_index_key

    with pytest.raises(SystemExit, match="celery worker: The subject index was written"):
        _refused_under_another_index_key()

    settings.STEWARD_SUBJECT_INDEX_KEY = settings.SECRET_KEY
    assert [m["type"] for m in _start_server()] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    _refused_under_another_index_key()
