"""The audit export under the server Steward runs (uvicorn → config.asgi), requested
in-process straight from ``config.asgi.application``, as a server would."""

import asyncio
import json
import warnings
from collections.abc import Callable

import pytest

from audit import exports
from audit.models import AuditEvent
from audit.services import record
from config.asgi import application
from config.asked_here import token_for_session

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_kept_connections"),
]


def _get(path: str, session_key: str, progress: Callable[[], int]) -> tuple[list, list[str]]:
    """The body's parts as sent, each with what ``progress()`` said then, and the warnings
    raised meanwhile."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(),
        # As the trail page's link asks for it (config/asked_here.py).
        "query_string": f"asked={token_for_session(session_key)}".encode(),
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1"),
                    (b"cookie", f"steward_session={session_key}".encode())],
    }  # fmt: skip
    parts: list[tuple[bytes, int]] = []

    async def call() -> None:
        done = asyncio.Event()
        asked = False

        async def receive() -> dict:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body":
                if message.get("body"):
                    parts.append((message["body"], progress()))
                if not message.get("more_body"):
                    done.set()

        await application(scope, receive, send)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(call())
    return parts, [str(w.message) for w in caught]


def test_the_export_is_streamed_a_batch_at_a_time_not_read_whole_first(client, reader, monkeypatch):
    """Constant memory: each part is sent once its batch is read, not after the whole
    trail (Django reads a sync iterator whole under ASGI, and warns)."""
    monkeypatch.setattr(exports, "BATCH", 20)
    for i in range(100):
        record(action=AuditEvent.Action.LOGIN, actor_label=f"user {i}")
    client.force_login(reader)
    read = 0
    real = exports.iter_rows

    def counted(events):
        nonlocal read
        for row in real(events):
            read += 1
            yield row

    monkeypatch.setattr(exports, "iter_rows", counted)
    parts, warned = _get("/audit/export/jsonl/", client.session.session_key, lambda: read)
    lines = b"".join(body for body, _ in parts).decode().splitlines()
    everything = AuditEvent.objects.count()  # the export's own event included
    assert [json.loads(line)["sequence"] for line in lines] == list(range(1, everything + 1))
    assert [read_then for _, read_then in parts] == [*range(20, everything, 20), everything]
    assert not [w for w in warned if "must consume synchronous iterators" in w]
