"""The demo organisation against fake backends (the chat tests' fixtures), and API tokens."""

import openai
import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from api.services import create_token
from tests.browser.conftest import asgi_server  # noqa: F401  (fixtures)
from tests.chat.conftest import (  # noqa: F401  (fixtures)
    KEY,
    backend_for,
    external_llm,
    fake,
    kind,
    local_llm,
    org,
)

__all__ = ["KEY"]

PASSWORD = "correct-horse-battery"  # tests.factories.make_user's


@pytest.fixture(autouse=True)
def _no_persistent_connections(monkeypatch):
    # The API's pool threads keep their connection between requests (CONN_MAX_AGE); one
    # left open would keep the test database from being flushed and dropped.
    monkeypatch.setitem(connections.settings[DEFAULT_DB_ALIAS], "CONN_MAX_AGE", 0)


@pytest.fixture
def token_for(db):
    """A new token for a user (``make(user, **kwargs)``): (ApiToken, its secret)."""

    def make(user, *, name: str = "tests", expires_in_days: int | None = None):
        return create_token(user=user, name=name, expires_in_days=expires_in_days, actor=user)

    return make


@pytest.fixture
def signed_in_now(client):
    """Sign ``user`` in on ``client`` by typing their password, as a person does (making a
    token asks for a password typed in the last minutes; ``force_login`` types none)."""

    def sign_in(user, password: str = PASSWORD):
        response = client.post("/accounts/login/", {"login": user.email, "password": password})
        assert response.status_code == 302, response.content[:500]
        return client

    return sign_in


@pytest.fixture
def openai_for(live_server, token_for):
    """The official client, pointed at the live server with a token of ``user``."""
    return _clients_of(live_server.url, token_for)


@pytest.fixture(params=["wsgi", "asgi"])
def openai_on_either(request, transactional_db, token_for):
    """``openai_for`` on each server in turn: the live server (WSGI: the backend is called
    from a thread) and uvicorn (ASGI: an OpenAI-compatible backend is called on the event
    loop, as in production)."""
    if request.param == "wsgi":
        url = request.getfixturevalue("live_server").url
    else:
        url = request.getfixturevalue("asgi_server")
    return _clients_of(url, token_for)


def _clients_of(url: str, token_for):
    def make(user, **kwargs) -> openai.OpenAI:
        _, secret = token_for(user)
        return openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0, **kwargs)

    return make
