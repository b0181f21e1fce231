"""``POST /v1/responses``: OpenAI's Responses API, text only, on the chat completions' path.

Newer code (and the agents built on the ``openai`` client) asks with
``client.responses.create(model=..., input=..., instructions=...)``. Here such a
request is read into the same (role, text) parts a chat completion gives and
answered by :func:`api.v1.answer_request`: scanned, decided, recorded,
pseudonymised, answered and settled exactly as one. What differs is the shape:
a ``response`` object whole, or the Responses API's typed events streamed
(``response.created`` … ``response.output_text.delta`` … ``response.completed``).

Steward keeps no responses for later: ``previous_response_id`` and
``conversation`` are refused (send the earlier turns in ``input``), as are
tools, and anything but text in and out.
"""

import itertools
import time

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from api import relay, v1
from api.v1 import (
    ROLES,
    Asked,
    Endpoint,
    Prepared,
    answer_request,
    bad,
    refuse_unsupported,
    sampling_asked,
    streamed,
    text_of,
    within_limits,
)
from api.v1.governed import _backend_failure
from chat import answering
from chat.llm import FILTERED, LENGTH
from chat.markdown import restore_outside_links
from governance.policy_cache import Version

#: The length limit's name in this API.
LENGTH_LIMIT = "max_output_tokens"
#: The content parts of an input message that are text: the caller's, and an earlier answer's.
TEXT_PARTS = ("input_text", "output_text")
#: Why an answer is incomplete, in this API's words, by the backend's reason.
INCOMPLETE = {LENGTH: "max_output_tokens", FILTERED: "content_filter"}
NOT_KEPT = "Steward keeps no responses to continue from: send the earlier turns in 'input' instead."
TEXT_ONLY = "Only text answers are supported."
UNSUPPORTED = {
    "previous_response_id": (lambda value: value is None, NOT_KEPT),
    "conversation": (lambda value: value is None, NOT_KEPT),
    "prompt": (lambda value: value is None, "Stored prompts are not supported: send 'input'."),
    "background": (lambda value: not value, "Background responses are not supported."),
    **{
        name: v1.UNSUPPORTED[name]
        for name in ("tools", "tool_choice", "parallel_tool_calls", "top_logprobs")
    },
    "truncation": (
        lambda value: value in (None, "disabled"),
        "Steward sends the input whole: 'truncation' may only be 'disabled'.",
    ),
    "text": (
        lambda value: (
            value is None
            or (
                isinstance(value, dict)
                and value.get("format", {"type": "text"}) == {"type": "text"}
            )
        ),
        f'{TEXT_ONLY} \'text.format\' may only be {{"type": "text"}}: ask for JSON in the '
        "input instead.",
    ),
    "include": (lambda value: not value, "Nothing can be included beyond the answer's text."),
}
#: What Steward honours of this API's parameters (``stream_options`` asks only how the events
#: are padded); :data:`api.v1.IGNORED` are accepted too, and anything else refused.
HONOURED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "stream",
        "stream_options",
        "metadata",
        "temperature",
        "top_p",
        LENGTH_LIMIT,
    }
)


def _asked(body: dict, version: Version) -> Asked:
    """``instructions`` (a system message) and ``input`` (a text, or a list of messages)."""
    refuse_unsupported(body, UNSUPPORTED, HONOURED | v1.IGNORED)
    parts = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise bad("'instructions' must be a text.", code="invalid_value", param="instructions")
        if instructions.strip():  # an empty one is no system message (none is sent)
            parts.append(("system", instructions))
    parts.extend(_input(body.get("input")))
    return Asked(
        parts=within_limits(parts, "input"),
        sampling=sampling_asked(body, version, limits=(LENGTH_LIMIT,)),
    )


def _input(value) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [("user", value)]
    if not isinstance(value, list) or not value:
        raise bad(
            "'input' must be a text or a non-empty list of messages.",
            code="invalid_input",
            param="input",
        )
    return [_message(item) for item in value]


def _message(item) -> tuple[str, str]:
    """One message of the input as (role, text); anything else (a tool call, a file) is 400."""
    if not isinstance(item, dict) or item.get("type", "message") != "message":
        raise bad(
            "Each item of 'input' must be a message: tool calls and their outputs are not "
            "supported.",
            code="invalid_input",
            param="input",
        )
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise bad(
            "Each message needs a role: system, developer, user or assistant.",
            code="invalid_input",
            param="input",
        )
    return ROLES[role], text_of(item.get("content"), kinds=TEXT_PARTS, param="input")


# --- answers -------------------------------------------------------------------------------


def _response(prepared: Prepared, *, status: str, output: list, **extra) -> dict:
    """A ``response`` object: the answer so far (``output``), and the settings it was asked
    with, as OpenAI repeats them."""
    body = prepared.body
    return {
        "id": f"resp_{prepared.answer.public_id.hex}",
        "object": "response",
        "created_at": int(prepared.answer.created_at.timestamp()),
        "status": status,
        "model": prepared.model,
        "output": output,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get(LENGTH_LIMIT),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": False,
        "previous_response_id": None,
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "text": {"format": {"type": "text"}},
        "tool_choice": "none",
        "tools": [],
        "usage": None,
        **extra,
    }


def _message_item(prepared: Prepared, *, status: str, content: list) -> dict:
    return {
        "id": f"msg_{prepared.answer.public_id.hex}",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def _text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _ending(progress: answering.Progress) -> tuple[str, dict]:
    """The answer's status, and what says why it is not complete (if it is not)."""
    reason = INCOMPLETE.get(progress.finish)
    if reason is None:
        return "completed", {"incomplete_details": None}
    return "incomplete", {"incomplete_details": {"reason": reason}}


def _usage(progress: answering.Progress) -> dict | None:
    if (used := v1.tokens_used(progress)) is None:
        return None
    used_in, used_out = used
    return {
        "input_tokens": used_in,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": used_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": used_in + used_out,
    }


def _done(prepared: Prepared, progress: answering.Progress, text: str) -> dict:
    """The finished response holding ``text`` (the answer, placeholders restored)."""
    status, why = _ending(progress)
    item = _message_item(prepared, status=status, content=[_text_part(text)])
    return _response(
        prepared,
        status=status,
        output=[item],
        usage=_usage(progress),
        completed_at=int(time.time()),
        **why,
    )


def _whole(prepared: Prepared, progress: answering.Progress) -> dict:
    text = restore_outside_links(progress.text, prepared.pseudonymiser.values())
    return _done(prepared, progress, text)


def _events(answer: relay.Relay, prepared: Prepared):
    """The Responses API's stream: the response created, its one message and text part
    opened, the text's deltas, then each closed, and the response completed (or
    incomplete, or failed with the backend's error)."""
    numbers = itertools.count()
    item_id = f"msg_{prepared.answer.public_id.hex}"
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    texts: list[str] = []

    def event(kind: str, **data) -> bytes:
        data = {"type": kind, **data, "sequence_number": next(numbers)}
        return f"event: {kind}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"

    def opening() -> bytes:
        begun = _response(prepared, status="in_progress", output=[])
        item = _message_item(prepared, status="in_progress", content=[])
        return b"".join(
            [
                event("response.created", response=begun),
                event("response.in_progress", response=begun),
                event("response.output_item.added", output_index=0, item=item),
                event("response.content_part.added", **where, part=_text_part("")),
            ]
        )

    def piece(text: str) -> bytes:
        texts.append(text)
        return event("response.output_text.delta", **where, delta=text, logprobs=[])

    def closing(progress: answering.Progress) -> bytes:
        if progress.error_kind:  # said as chat completions say it (the vendor's limit, a wait)
            problem = _backend_failure(progress)
            code = "rate_limit_exceeded" if problem.status == 429 else "server_error"
            error = {"code": code, "message": str(problem)}
            failed = _response(prepared, status="failed", output=[], error=error)
            return event("response.failed", response=failed)
        done = _done(prepared, progress, "".join(texts))
        item = done["output"][0]
        kind = "response.completed" if done["status"] == "completed" else "response.incomplete"
        return b"".join(
            [
                event(
                    "response.output_text.done",
                    **where,
                    text=item["content"][0]["text"],
                    logprobs=[],
                ),  # fmt: skip
                event("response.content_part.done", **where, part=item["content"][0]),
                event("response.output_item.done", output_index=0, item=item),
                event(kind, response=done),
            ]
        )

    return streamed(answer, prepared, opening=opening(), piece=piece, closing=closing)


RESPONSES = Endpoint(asked=_asked, whole=_whole, events=_events)


@csrf_exempt
async def responses(request: HttpRequest) -> HttpResponse:
    """A response, streamed (the Responses API's events) or whole, governed like a chat
    message."""
    return await answer_request(request, RESPONSES)
