"""Ollama's adapter: its ``/api/chat`` through the ``ollama`` client."""

from __future__ import annotations

import ollama

from chat.llm.adapter import LENGTH, Adapter, ChatMessage, Sampling, Usage
from chat.llm.errors import _llm_error_message, _ollama_error_body


class OllamaAdapter(Adapter):
    """Ollama's ``/api/chat`` (NDJSON stream) through the ``ollama`` client."""

    default_url = "http://127.0.0.1:11434"
    streams_async = True

    def __init__(self, backend, key):
        super().__init__(backend, key)
        self.context_tokens = backend.context_tokens

    def _client(self, timeout: float) -> ollama.Client:
        return self._keyed(ollama.Client(**self._client_args(timeout)))

    def _async_client(self, timeout: float) -> ollama.AsyncClient:
        return self._keyed(ollama.AsyncClient(**self._client_args(timeout)))

    def _client_args(self, timeout: float) -> dict:
        # No redirects followed: see no_redirects.
        return {
            "host": self.base_url,
            "timeout": timeout,
            "headers": self._auth(),
            "follow_redirects": False,
        }

    def _auth(self) -> dict | None:
        return {"Authorization": f"Bearer {self._key}"} if self._key else None

    def _keyed(self, client):
        if not self._key:
            # The client adds OLLAMA_API_KEY from the environment to every request;
            # a backend without a key of its own must not send someone else's.
            client._client.headers.pop("authorization", None)
        return client

    def _chunks(self, messages, timeout, sampling):
        parts = self._shared_client(timeout).chat(**self._request(messages, sampling))
        try:
            for part in parts:
                yield self._text_of(part)
        finally:
            parts.close()

    async def _achunks(self, messages, timeout, sampling):
        client = self._shared_async_client(timeout)
        parts = await client.chat(**self._request(messages, sampling))
        try:
            async for part in parts:
                yield self._text_of(part)
        finally:
            await parts.aclose()

    def _request(self, messages: list[ChatMessage], sampling: Sampling) -> dict:
        options = {
            name: value
            for name, value in (
                ("temperature", sampling.temperature),
                ("top_p", sampling.top_p),
                ("num_predict", sampling.max_tokens),
                ("stop", sampling.stop_list),
                ("seed", sampling.seed),
                ("frequency_penalty", sampling.frequency_penalty),
                ("presence_penalty", sampling.presence_penalty),
                ("num_ctx", self.context_tokens),  # else Ollama reads its own default window
            )
            if value is not None
        }
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "options": options or None,
        }

    def _text_of(self, part) -> str:
        """The text of one line of the stream; the last one's counts and reason are noted."""
        if part.done:
            self.usage = Usage(part.prompt_eval_count, part.eval_count)
            if part.done_reason == "length":
                self.finish = LENGTH
        return part.message.content or ""

    def _check(self, timeout):
        with self._client(timeout) as client:
            client.list()

    def _translate(self, exc):
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == -1:  # an error line inside a 200 stream
                return self._reported(exc.error)
            return self._status(exc.status_code, _llm_error_message(_ollama_error_body(exc)))
        return None
