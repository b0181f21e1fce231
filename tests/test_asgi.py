"""The ASGI application: /v1/ through the lean handler, everything else through Django's stack.

Requests are made in-process, straight to ``config.asgi.application``, as a server would.
"""

import asyncio
import json
import re

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpResponse

from config.asgi import application

# The handlers check the database connections of the threads they run in (as they do in
# production: no test transaction, and the request signals left connected).
pytestmark = pytest.mark.django_db(transaction=True)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def _call(path: str, host: str, headers: dict[str, str]) -> list[dict]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
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
    sent: list[dict] = []
    body_given = False
    never = asyncio.Event()  # the client stays connected

    async def receive() -> dict:
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return sent


def get(path: str, *, host: str = "127.0.0.1", **headers: str) -> HttpResponse:
    """What the application sent, as a response (its headers and whole body)."""
    sent = async_to_sync(_call)(path, host, headers)
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    response = HttpResponse(b"".join(m.get("body", b"") for m in bodies), status=start["status"])
    for name, value in start["headers"]:
        response[name.decode("latin-1")] = value.decode("latin-1")
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
