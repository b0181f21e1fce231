"""An open answer stream holds no database connection (two hundred of them would exhaust it)."""

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.urls import reverse

from tests.factories import make_done_answer


@pytest.fixture
def answer(member):
    return make_done_answer(member)


async def _read(response) -> bytes:
    return b"".join([part async for part in response.streaming_content])


@pytest.mark.django_db(transaction=True)
def test_it_closes_the_connection_before_the_stream_starts(client, member, answer, redis_server):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("Django never closes an in-memory SQLite test database")
    client.force_login(member)
    client.get(reverse("chat:home"))
    assert connection.connection is not None  # pages keep theirs (CONN_MAX_AGE)
    response = client.get(
        reverse("chat:stream", args=[answer.public_id]), HTTP_ACCEPT="text/event-stream"
    )
    assert connection.connection is None
    assert b"event: end" in async_to_sync(_read)(response)
