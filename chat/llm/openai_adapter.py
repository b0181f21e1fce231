"""The adapter of any OpenAI-compatible ``/chat/completions``, through the ``openai`` client
(the clouds' kinds in :mod:`.clouds` build on it)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import openai

from chat.llm.adapter import (
    FILTERED,
    LENGTH,
    Adapter,
    ChatMessage,
    LLMError,
    Sampling,
    Usage,
    no_redirects,
)
from chat.llm.errors import _sdk_error, _server_message


class OpenAIAdapter(Adapter):
    """Any OpenAI-compatible ``/chat/completions`` through the ``openai`` client.

    A server with a base URL of its own (vLLM, llama.cpp, LiteLLM) may need no key;
    api.openai.com always does.
    """

    default_url = "https://api.openai.com/v1"
    #: The optional parameters this kind accepts, by our name and by its own; the others
    #: are left out (Mistral, for one, refuses a request with a parameter it does not know).
    parameters = {
        "stream_options": "stream_options",
        "temperature": "temperature",
        "top_p": "top_p",
        "max_tokens": "max_tokens",
        "stop": "stop",
        "seed": "seed",
        "frequency_penalty": "frequency_penalty",
        "presence_penalty": "presence_penalty",
    }
    #: The longest answer asked for when the caller names none (None: the server's own).
    default_max_tokens: int | None = None
    streams_async = True

    def __init__(self, backend, key):
        self.needs_key = not backend.base_url
        super().__init__(backend, key)

    def _client(self, timeout: float) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=self._key or "unused",
            timeout=timeout,
            max_retries=0,
            http_client=no_redirects(openai, timeout),
        )

    def _async_client(self, timeout: float) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._key or "unused",
            timeout=timeout,
            max_retries=0,
            # The SDK's aiohttp transport: half the CPU of its default (httpx2) per answer.
            http_client=no_redirects(openai, timeout, on_loop=True),
        )

    # The client's plain POST (its way to custom requests: same URL rules, key, errors), and
    # the raw event stream, read to the end of the body. ``chat.completions.create`` walks
    # every message through its type-driven transform first (a third of this call's CPU for
    # a 2 KB question); its stream stops at [DONE] and closes the response before the body's
    # last bytes, which costs the connection (a new TCP and TLS handshake for every answer),
    # and it builds a pydantic model per chunk.

    def _chunks(self, messages, timeout, sampling):
        client = self._shared_client(timeout)
        body = self._body(messages, sampling)
        response = client.post("/chat/completions", cast_to=httpx2.Response, body=body, stream=True)
        try:
            for line in response.iter_lines():
                yield from self._texts(line)
        finally:
            response.close()

    async def _achunks(self, messages, timeout, sampling):
        client = self._shared_async_client(timeout)
        body = self._body(messages, sampling)
        response = await client.post(
            "/chat/completions", cast_to=httpx2.Response, body=body, stream=True
        )
        try:
            async for line in response.aiter_lines():
                for text in self._texts(line):
                    yield text
        finally:
            await response.aclose()

    def _body(self, messages: list[ChatMessage], sampling: Sampling) -> dict:
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            **self._optional(sampling),
        }

    def _texts(self, line: str) -> Iterator[str]:
        """The text of one line of the event stream (none for what is not an event); the
        usage and finish reason it carries are noted."""
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            return
        chunk = json.loads(line[5:])
        if chunk.get("error"):
            raise self._reported(_server_message(chunk))
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        # Usage chunks, and Azure's content-filter preamble, have no choices.
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason") in (LENGTH, FILTERED):
                self.finish = choice["finish_reason"]
            yield (choice.get("delta") or {}).get("content") or ""

    def _optional(self, sampling: Sampling) -> dict:
        wanted = {
            "stream_options": {"include_usage": True},
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens or self.default_max_tokens,
            "stop": sampling.stop_list,
            "seed": sampling.seed,
            "frequency_penalty": sampling.frequency_penalty,
            "presence_penalty": sampling.presence_penalty,
        }
        return {
            self.parameters[name]: value
            for name, value in wanted.items()
            if name in self.parameters and value is not None
        }

    def _check(self, timeout):
        try:
            with self._client(timeout) as client:
                client.models.list()
        except openai.NotFoundError:
            # The clouds' subclasses have addresses of their own shape.
            if type(self) is OpenAIAdapter and not _names_a_version(self.base_url):
                raise LLMError(
                    f"{self.name} answered HTTP 404 to a model listing at {self.base_url}: "
                    "the address should likely end in /v1.",
                    kind="http",
                    status=404,
                ) from None
            raise

    def _translate(self, exc):
        return _sdk_error(self, exc, openai)


def _names_a_version(url: str) -> bool:
    """Whether an address's path has an API version in it (``/v1``, ``/openai/v1``,
    ``/v1beta/openai``), as an OpenAI-compatible API root does."""
    return any(re.fullmatch(r"v\d+\w*", part) for part in urlsplit(url).path.split("/"))
