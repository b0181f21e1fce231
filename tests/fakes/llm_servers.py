"""Small fake Ollama, OpenAI-compatible and Anthropic servers on loopback.

Tests point the real client libraries at them. Each server records what it
received (path, headers, JSON body) and can be told to misbehave:

- ``fail = 500`` or ``401`` (any status): answer that status with an error body;
- ``fail = "hang"``: say nothing until the client gives up (or the server stops);
- ``fail = "cut"``: send the first chunk, then drop the connection mid-stream;
- ``fail = "garbage"``: stream something that is not the protocol.

Streams use chunked transfer encoding, so a dropped connection is visible to
the client as an incomplete body, as it is with a real server.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeLLM:
    """One fake backend; ``kind`` is "ollama", "openai" or "anthropic"."""

    kind: str
    reply: list[str] = field(default_factory=lambda: ["Hello", ", ", "world", "!"])
    usage: tuple[int, int] = (12, 4)
    fail: int | str | None = None
    delay: float = 0.0  # seconds between chunks
    requests: list[Received] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["llama3.2", "gpt-4o-mini", "claude-x"])

    def __post_init__(self):
        self._released = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # a short poll interval: shutdown() waits for it, once per test
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The base URL a backend of this kind is configured with."""
        host, port = self._server.server_address[:2]
        root = f"http://{host}:{port}"
        return root + "/v1" if self.kind == "openai" else root

    @property
    def last(self) -> Received:
        return self.requests[-1]

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    # --- what each protocol streams ------------------------------------------------------

    def events(self, body: dict) -> list[bytes]:
        model = body.get("model", "")
        if self.kind == "ollama":
            lines = [
                {"model": model, "message": {"role": "assistant", "content": t}, "done": False}
                for t in self.reply
            ]
            lines.append(
                {
                    "model": model,
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "stop",
                    "prompt_eval_count": self.usage[0],
                    "eval_count": self.usage[1],
                }
            )
            return [json.dumps(line).encode() + b"\n" for line in lines]
        if self.kind == "openai":
            base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1}
            base["model"] = model
            chunks = [
                {**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]}
                for t in self.reply
            ]
            chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            chunks.append(
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": self.usage[0],
                        "completion_tokens": self.usage[1],
                        "total_tokens": sum(self.usage),
                    },
                }
            )
            out = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
            return out + [b"data: [DONE]\n\n"]
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.usage[0], "output_tokens": 1},
        }
        events = [("message_start", {"type": "message_start", "message": message})]
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        events += [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": t},
                },
            )
            for t in self.reply
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": self.usage[1]},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]

    def garbage(self) -> bytes:
        if self.kind == "ollama":
            return b"<html>not json</html>\n"
        if self.kind == "openai":
            return b"data: {not json\n\n"
        return b"event: content_block_delta\ndata: {not json\n\n"

    def listing(self) -> dict:
        if self.kind == "ollama":
            return {"models": [{"name": m, "model": m} for m in self.models]}
        if self.kind == "openai":
            data = [
                {"id": m, "object": "model", "created": 1, "owned_by": "x"} for m in self.models
            ]
            return {"object": "list", "data": data}
        data = [
            {"id": m, "type": "model", "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]
        return {"data": data, "has_more": False, "first_id": None, "last_id": None}

    def error_body(self, status: int) -> dict:
        text = "invalid api key" if status in (401, 403) else "the model crashed"
        if self.kind == "ollama":
            return {"error": text}
        if self.kind == "openai":
            return {"error": {"message": text, "type": "error", "code": None}}
        return {"type": "error", "error": {"type": "api_error", "message": text}}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-answer is what several tests do on purpose


STREAM_PATHS = {
    "ollama": "/api/chat",
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
}
LIST_PATHS = {"ollama": "/api/tags", "openai": "/v1/models", "anthropic": "/v1/models"}


def _handler_for(fake: FakeLLM):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def _record(self, body):
            fake.requests.append(
                Received(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
            )

        def _misbehave_first(self) -> bool:
            if fake.fail == "hang":
                fake._released.wait(10)
                self.close_connection = True
                return True
            if isinstance(fake.fail, int):
                self._json(fake.fail, fake.error_body(fake.fail))
                return True
            return False

        def _json(self, status: int, data: dict) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            self._record(None)
            if self.path.split("?")[0] != LIST_PATHS[fake.kind]:
                self._json(404, {"error": "not found"})
            elif not self._misbehave_first():
                self._json(200, fake.listing())

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            self._record(body)
            if self.path != STREAM_PATHS[fake.kind]:
                self._json(404, {"error": "not found"})
                return
            if self._misbehave_first():
                return
            ndjson = fake.kind == "ollama"
            self.send_response(200)
            self.send_header(
                "Content-Type", "application/x-ndjson" if ndjson else "text/event-stream"
            )
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = fake.events(body)
            if fake.fail == "garbage":
                events = [fake.garbage()]
            try:
                for i, event in enumerate(events):
                    if fake.fail == "cut" and i == 1:
                        self.wfile.flush()
                        self.close_connection = True
                        return  # no terminating chunk: the body is incomplete
                    self._chunk(event)
                    if fake.delay:
                        time.sleep(fake.delay)
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away (cancelled)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
