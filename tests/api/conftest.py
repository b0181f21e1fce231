"""The demo organisation against fake backends (the chat tests' fixtures), and API tokens."""

import openai
import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from api.services import create_token
from tests.browser.conftest import asgi_server  # noqa: F401  (fixtures)
from tests.chat.conftest import KEY, external_llm, local_llm, org  # noqa: F401

__all__ = ["KEY"]


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
def openai_for(live_server, token_for):
    """The official client, pointed at the live server with a token of ``user``."""

    def make(user, **kwargs) -> openai.OpenAI:
        _, secret = token_for(user)
        return openai.OpenAI(
            base_url=f"{live_server.url}/v1", api_key=secret, max_retries=0, **kwargs
        )

    return make
