"""Small fake LLM servers on loopback: Ollama, OpenAI-compatible (OpenAI, Azure OpenAI
classic and /openai/v1, Vertex AI, Mistral), Anthropic and AWS Bedrock.

Tests point the real client libraries at them. Each server records what it
received (path, headers, JSON body) and can be told to misbehave:

- ``fail = 500`` or ``401`` (any status): answer that status with an error body;
- ``fail = "hang"``: say nothing until the client gives up (or the server stops);
- ``fail = "cut"``: send the first chunk, then drop the connection mid-stream;
- ``fail = "garbage"``: stream something that is not the protocol.

Streams use chunked transfer encoding, so a dropped connection is visible to
the client as an incomplete body, as it is with a real server. Bedrock's stream
is AWS's event-stream framing (:func:`event_frame`). Mistral's fake refuses
parameters it does not know, as Mistral does.

:class:`FakeTokenServer` hands out access tokens (Google's and Entra's token
endpoints, Google's metadata server, Azure's managed identity endpoint).
"""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

OPENAI_LIKE = ("openai", "azure", "azure_v1", "vertex", "mistral")
VERTEX_PROJECT, VERTEX_REGION = "proj-1", "europe-west4"
#: The request fields Mistral's chat API knows; anything else is refused with 422.
MISTRAL_FIELDS = {
    "model", "messages", "stream", "max_tokens", "temperature", "top_p", "random_seed", "stop",
    "safe_prompt", "response_format", "tools", "tool_choice", "presence_penalty",
    "frequency_penalty", "n", "prediction", "parallel_tool_calls",
}  # fmt: skip


ANTHROPIC_REASONS = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}
BEDROCK_REASONS = {"length": "max_tokens", "content_filter": "content_filtered"}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    #: The port the request came from: one per connection.
    client_port: int = 0


@dataclass
class FakeLLM:
    """One fake backend; ``kind`` is "ollama", "anthropic", "bedrock" or one of OPENAI_LIKE."""

    kind: str
    reply: list[str] = field(default_factory=lambda: ["Hello", ", ", "world", "!"])
    usage: tuple[int, int] = (12, 4)
    fail: int | str | None = None
    delay: float = 0.0  # seconds between chunks
    requests: list[Received] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["llama3.2", "gpt-4o-mini", "claude-x"])
    stop_reason: str = "end_turn"  # Bedrock's messageStop
    #: Why the answer ends, in OpenAI's words ("stop", "length", "content_filter"), told in
    #: each protocol's own.
    finish: str = "stop"
    stream_exception: tuple[str, str] | None = None  # Bedrock: (code, message) mid-answer

    def __post_init__(self):
        self._released = threading.Event()
        self._server = _serve(_handler_for(self))

    @property
    def url(self) -> str:
        """The base URL a backend of this kind is configured with."""
        host, port = self._server.server_address[:2]
        root = f"http://{host}:{port}"
        suffix = {"openai": "/v1", "mistral": "/v1", "azure_v1": "/openai/v1"}
        return root + suffix.get(self.kind, "")

    def answers(self, method: str, path: str) -> bool:
        """Whether ``path`` is this kind's chat (POST) or model listing (GET)."""
        path = path.split("?")[0]
        if method == "GET":
            listing = {"azure": "/openai/models", "azure_v1": "/openai/v1/models"}
            return path == listing.get(self.kind, LIST_PATHS.get(self.kind))
        if self.kind == "azure":
            return path.startswith("/openai/deployments/") and path.endswith("/chat/completions")
        if self.kind == "bedrock":
            return path.startswith("/model/") and path.endswith(("/converse-stream", "/converse"))
        return path == STREAM_PATHS[self.kind]

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
                    "done_reason": "length" if self.finish == "length" else "stop",
                    "prompt_eval_count": self.usage[0],
                    "eval_count": self.usage[1],
                }
            )
            return [json.dumps(line).encode() + b"\n" for line in lines]
        if self.kind == "bedrock":
            return self._bedrock_events()
        if self.kind in OPENAI_LIKE:
            base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1}
            base["model"] = model
            chunks = [
                {**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]}
                for t in self.reply
            ]
            last = {"index": 0, "delta": {}, "finish_reason": self.finish}
            chunks.append({**base, "choices": [last]})
            usage = {
                "prompt_tokens": self.usage[0],
                "completion_tokens": self.usage[1],
                "total_tokens": sum(self.usage),
            }
            if self.kind == "mistral":  # no usage chunk of its own: the last one carries it
                chunks[-1]["usage"] = usage
            else:
                chunks.append({**base, "choices": [], "usage": usage})
            if self.kind in ("azure", "azure_v1"):  # the content filter's verdict comes first
                filtered = {"prompt_index": 0, "content_filter_results": {}}
                chunks.insert(
                    0, {**base, "model": "", "choices": [], "prompt_filter_results": [filtered]}
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
                    "delta": {"stop_reason": ANTHROPIC_REASONS[self.finish], "stop_sequence": None},
                    "usage": {"output_tokens": self.usage[1]},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]

    def _bedrock_events(self) -> list[bytes]:
        events = [("messageStart", {"role": "assistant"})]
        events += [
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}})
            for t in self.reply
        ]
        events.append(("contentBlockStop", {"contentBlockIndex": 0}))
        reason = self.stop_reason if self.finish == "stop" else BEDROCK_REASONS[self.finish]
        events.append(("messageStop", {"stopReason": reason}))
        usage = {"inputTokens": self.usage[0], "outputTokens": self.usage[1]}
        usage["totalTokens"] = sum(self.usage)
        events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": 5}}))
        frames = [event_frame(name, data) for name, data in events]
        if self.stream_exception:  # an exception event mid-answer, after the first chunk
            code, message = self.stream_exception
            frames.insert(2, exception_frame(code, message))
        return frames

    def completion(self, body: dict) -> dict:
        """A whole (not streamed) answer: what a check asks of Vertex AI and Bedrock."""
        text = "".join(self.reply)
        if self.kind == "bedrock":
            return {
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
                "usage": {
                    "inputTokens": self.usage[0],
                    "outputTokens": self.usage[1],
                    "totalTokens": sum(self.usage),
                },
                "metrics": {"latencyMs": 5},
            }
        message = {"role": "assistant", "content": text}
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": self.usage[0],
                "completion_tokens": self.usage[1],
                "total_tokens": sum(self.usage),
            },
        }

    def refusal(self, body) -> tuple[int, dict] | None:
        """What this kind refuses before answering: Mistral, parameters it does not know."""
        if self.kind != "mistral" or not isinstance(body, dict):
            return None
        detail = [
            {
                "type": "extra_forbidden",
                "loc": ["body", name],
                "msg": "Extra inputs are not permitted",
            }
            for name in sorted(set(body) - MISTRAL_FIELDS)
        ]
        if not detail:
            return None
        return 422, {
            "object": "error",
            "message": {"detail": detail},
            "type": "invalid_request_error",
        }

    def garbage(self) -> bytes:
        if self.kind == "ollama":
            return b"<html>not json</html>\n"
        if self.kind == "bedrock":  # a frame whose prelude checksum is wrong
            return struct.pack(">III", 16, 0, 12345) + struct.pack(">I", 0)
        if self.kind in OPENAI_LIKE:
            return b"data: {not json\n\n"
        return b"event: content_block_delta\ndata: {not json\n\n"

    def listing(self) -> dict:
        if self.kind == "ollama":
            return {"models": [{"name": m, "model": m} for m in self.models]}
        if self.kind in OPENAI_LIKE:
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
        if self.kind == "bedrock":
            return {"message": text}
        if self.kind in OPENAI_LIKE:
            return {"error": {"message": text, "type": "error", "code": None}}
        return {"type": "error", "error": {"type": "api_error", "message": text}}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-answer is what several tests do on purpose


def _serve(handler) -> _QuietServer:
    """A server on a free loopback port, answering in threads of its own."""
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # a short poll interval: shutdown() waits for it, once per test
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    ).start()
    return server


STREAM_PATHS = {
    "ollama": "/api/chat",
    "openai": "/v1/chat/completions",
    "mistral": "/v1/chat/completions",
    "azure_v1": "/openai/v1/chat/completions",
    "vertex": f"/v1/projects/{VERTEX_PROJECT}/locations/{VERTEX_REGION}/endpoints/openapi"
    "/chat/completions",
    "anthropic": "/v1/messages",
}
LIST_PATHS = {
    "ollama": "/api/tags",
    "openai": "/v1/models",
    "mistral": "/v1/models",
    "anthropic": "/v1/models",
}
#: What Bedrock calls each HTTP status in its ``x-amzn-ErrorType`` header.
AWS_ERRORS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}


def _headers(pairs: dict[str, str]) -> bytes:
    out = b""
    for name, value in pairs.items():
        raw = value.encode()
        out += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    return out


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: a prelude (total and header lengths, their CRC32),
    string headers, the payload, and the CRC32 of all that came before."""
    head = _headers(headers)
    prelude = struct.pack(">II", 12 + len(head) + len(payload) + 4, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, data: dict) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json"}
    headers[":message-type"] = "event"
    return frame(headers, json.dumps(data).encode())


def exception_frame(code: str, message: str) -> bytes:
    headers = {":exception-type": code, ":content-type": "application/json"}
    headers[":message-type"] = "exception"
    return frame(headers, json.dumps({"message": message}).encode())


def _handler_for(fake: FakeLLM):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def _record(self, body):
            fake.requests.append(
                Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    self.client_address[1],
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
            if fake.kind == "bedrock" and status >= 400:
                self.send_header(
                    "x-amzn-ErrorType", AWS_ERRORS.get(status, "InternalServerException")
                )
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            self._record(None)
            if not fake.answers("GET", self.path):
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
            if not fake.answers("POST", self.path):
                self._json(404, {"error": "not found"})
                return
            if self._misbehave_first():
                return
            refused = fake.refusal(body)
            if refused:
                self._json(*refused)
                return
            if self.path.endswith("/converse") or (
                fake.kind in OPENAI_LIKE and isinstance(body, dict) and not body.get("stream")
            ):
                self._json(200, fake.completion(body))
                return
            content_types = {
                "ollama": "application/x-ndjson",
                "bedrock": "application/vnd.amazon.eventstream",
            }
            self.send_response(200)
            self.send_header("Content-Type", content_types.get(fake.kind, "text/event-stream"))
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


@dataclass
class FakeTokenServer:
    """Hands out access tokens on loopback, numbered (``token-1``, ``token-2``, ...),
    each living ``lifetime`` seconds; records every request's form, query and headers.
    ``fail`` (a status) refuses them."""

    lifetime: int = 3600
    fail: int | None = None
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self.issued = 0
        self._server = _serve(_token_handler_for(self))

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _token_handler_for(fake: FakeTokenServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _answer(self, form: dict) -> None:
            query = parse_qs(self.path.partition("?")[2])
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.requests.append(Received(self.command, self.path, headers, {**query, **form}))
            if fake.fail:
                status, data = fake.fail, {"error": "invalid_grant", "error_description": "Bad key"}
            else:
                fake.issued += 1
                status = 200
                data = {
                    "access_token": f"token-{fake.issued}",
                    "expires_in": fake.lifetime,
                    "token_type": "Bearer",
                }
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            self._answer({})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            self._answer({k: v[0] for k, v in parse_qs(raw).items()})

    return Handler
