"""``POST /v1/chat/completions``: a chat completion, whole or as OpenAI's
``chat.completion.chunk`` events, on the governed path (:func:`api.v1.governed.answer_request`)."""

import time
from collections.abc import AsyncIterator

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from api import relay
from api.v1.governed import (
    Endpoint,
    Prepared,
    _backend_failure,
    answer_request,
    streamed,
    tokens_used,
)
from api.v1.reading import Asked, _parts, refuse_unsupported, sampling_asked
from chat import answering
from chat.markdown import restore_outside_links
from governance.policy_cache import Version


def _chat_asked(body: dict, version: Version) -> Asked:
    """A chat completion's request: its ``messages``, and its sampling."""
    refuse_unsupported(body)
    return Asked(parts=_parts(body.get("messages")), sampling=sampling_asked(body, version))


def _completion_id(prepared: Prepared) -> str:
    return f"chatcmpl-{prepared.answer.public_id.hex}"


def _usage(progress: answering.Progress) -> dict | None:
    if (used := tokens_used(progress)) is None:
        return None
    prompt, completion = used
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(prepared: Prepared, progress: answering.Progress) -> dict:
    return {
        "id": _completion_id(prepared),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": prepared.model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": restore_outside_links(
                        progress.text, prepared.pseudonymiser.values()
                    ),
                    "refusal": None,
                },
                "finish_reason": progress.finish,
                "logprobs": None,
            }
        ],
        "usage": _usage(progress),
    }


def _chunks(answer: relay.Relay, prepared: Prepared) -> AsyncIterator[bytes]:
    """OpenAI's ``chat.completion.chunk`` events, placeholders restored, then ``[DONE]``."""
    base = {
        "id": _completion_id(prepared),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": prepared.model,
    }

    def event(delta: dict, finish=None, **extra) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _sse({**base, "choices": [choice], **extra})

    def closing(progress: answering.Progress) -> bytes:
        if progress.error_kind:
            events = [_sse(_backend_failure(progress).body())]
        else:
            events = [event({}, progress.finish)]
            if prepared.include_usage:
                events.append(_sse({**base, "choices": [], "usage": _usage(progress)}))
        return b"".join([*events, b"data: [DONE]\n\n"])

    return streamed(
        answer,
        prepared,
        opening=event({"role": "assistant", "content": ""}),
        piece=lambda text: event({"content": text}),
        closing=closing,
    )


CHAT_COMPLETIONS = Endpoint(asked=_chat_asked, whole=_completion, events=_chunks)


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    """A chat completion, streamed (server-sent events) or whole, governed like a chat message."""
    return await answer_request(request, CHAT_COMPLETIONS)


def _sse(data: dict) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"
