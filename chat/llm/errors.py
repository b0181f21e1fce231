"""What a backend's error answer says, read from its body (the vendor's message, its error
code, the wait it asks for) and from the vendors' SDKs' exceptions, for :class:`LLMError`;
another service's page behind a backend's address is not repeated."""

from __future__ import annotations

import json
import re

import httpx
import httpx2
import ollama

from chat.llm.adapter import CUT, Adapter, LLMError


def _sdk_error(adapter: Adapter, exc: Exception, sdk) -> LLMError | None:
    """Map an exception of the ``openai`` or ``anthropic`` SDK (one shared hierarchy)."""
    if isinstance(exc, sdk.APITimeoutError):
        return adapter._timeout()
    if isinstance(exc, sdk.APIConnectionError):
        return adapter._cut() if _mid_stream(exc) else adapter._unreachable()
    if isinstance(exc, sdk.APIStatusError):
        if exc.status_code < 300:  # an error event inside the answer's (200) stream
            return adapter._reported(_server_message(exc.body) or exc.message)
        said = _llm_error_message(_body_text(exc.response))
        return adapter._status(
            exc.status_code,
            said,
            code=None if said is None else _server_code(exc.body),
            retry_after=_retry_after(exc.response.headers.get("retry-after")),
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return adapter._malformed()
    if isinstance(exc, sdk.APIError):
        return adapter._reported(exc.message)
    return None


def _mid_stream(exc: Exception) -> bool:
    """Whether a connection error happened after the answer started (the body was cut)."""
    return isinstance(exc.__cause__, CUT)


def _llm_error_message(text: str) -> str | None:
    """The vendor's message in an error answer's body when the body is an LLM API's error
    object, else None (the address may be another service's, whose pages are not repeated).

    The objects: OpenAI's ``{"error": {"message": …}}`` (Anthropic's, Azure's, Google's and
    llama.cpp's alike), Ollama's ``{"error": "…"}``, and Mistral's and vLLM's
    ``{"object": "error", "message": …}``.
    """
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str) or (
        isinstance(error, dict) and isinstance(error.get("message"), str)
    ):
        return _server_message(body)
    if body.get("object") == "error" and isinstance(body.get("message"), str | dict):
        return _server_message(body)
    return None


def _body_text(response) -> str:
    """The text of an SDK's error answer ("" if it was closed unread)."""
    try:
        return response.text
    except httpx2.ResponseNotRead:
        return ""


def _ollama_error_body(exc: ollama.ResponseError) -> str:
    """The body behind an Ollama client's error. The client keeps only what it read as the
    body's "error" (or the whole text when there is none), so the body is taken from the
    httpx error it raised this one over."""
    answer = exc.__context__
    return answer.response.text if isinstance(answer, httpx.HTTPStatusError) else ""


def _server_message(body) -> str:
    """The ``error.message`` of an OpenAI- or Anthropic-style error body, if there is one."""
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return ""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, dict) and isinstance(error.get("message"), dict):
            return _validation_details(error["message"].get("detail"))
        if isinstance(error, str):
            return error
    return ""


#: What an error code looks like (``context_length_exceeded``, ``insufficient_quota``): a
#: server that puts anything else there is not repeated.
ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: The longest wait a Retry-After is passed on with (a day; a longer one is not believed).
MAX_RETRY_AFTER_SECONDS = 86400


def _server_code(body) -> str | None:
    """The ``error.code`` of an OpenAI-style error body (the SDK hands over the ``error``
    object itself, or the whole body), if it names one."""
    if not isinstance(body, dict):
        return None
    error = body.get("error", body)
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and ERROR_CODE.fullmatch(code) else None


def _retry_after(value: str | None) -> int | None:
    """A Retry-After given in seconds (the HTTP-date form is not used by the vendors)."""
    if value is None or not value.strip().isdigit():
        return None
    seconds = int(value)
    return seconds if 0 < seconds <= MAX_RETRY_AFTER_SECONDS else None


def _validation_details(detail) -> str:
    """A validation error's list (Mistral's 422) as one line: ``stream_options: Extra inputs…``."""
    if not isinstance(detail, list):
        return ""
    parts = []
    for item in detail:
        if isinstance(item, dict):
            where = ".".join(str(p) for p in item.get("loc", ())[1:])
            parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
    return "; ".join(parts)
