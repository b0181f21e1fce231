"""Anthropic's adapter: its Messages API through the ``anthropic`` client."""

from __future__ import annotations

import anthropic

from chat.llm.adapter import (
    FILTERED,
    LENGTH,
    STOPPED,
    Adapter,
    ChatMessage,
    Sampling,
    Usage,
    alternating_turns,
    no_redirects,
)
from chat.llm.errors import _sdk_error

ANTHROPIC_MAX_TOKENS = 4096


class AnthropicAdapter(Adapter):
    """Anthropic's Messages API through the ``anthropic`` client."""

    needs_key = True
    default_url = "https://api.anthropic.com"
    streams_async = True

    def _client(self, timeout: float) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.base_url,
            api_key=self._key,
            timeout=timeout,
            max_retries=0,
            http_client=no_redirects(anthropic, timeout),
        )

    def _async_client(self, timeout: float) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            base_url=self.base_url,
            api_key=self._key,
            timeout=timeout,
            max_retries=0,
            http_client=no_redirects(anthropic, timeout, on_loop=True),
        )

    def _chunks(self, messages, timeout, sampling):
        stream = self._shared_client(timeout).messages.create(**self._request(messages, sampling))
        try:
            for event in stream:
                yield self._text_of(event)
        finally:
            stream.close()

    async def _achunks(self, messages, timeout, sampling):
        client = self._shared_async_client(timeout)
        stream = await client.messages.create(**self._request(messages, sampling))
        try:
            async for event in stream:
                yield self._text_of(event)
        finally:
            await stream.close()

    def _request(self, messages: list[ChatMessage], sampling: Sampling) -> dict:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        extra = {"system": system} if system else {}
        # This client's create() no longer names temperature and top_p; the API takes them
        # (Anthropic's temperatures end at 1), and the stop sequences with them.
        asked = {
            "temperature": sampling.temperature_up_to(1.0),
            "top_p": sampling.top_p,
            "stop_sequences": sampling.stop_list,
        }
        asked = {name: value for name, value in asked.items() if value is not None}
        if asked:
            extra["extra_body"] = asked
        self._tokens = [None, None]  # input, output
        turns = alternating_turns([m for m in messages if m.role != "system"])
        return {
            "model": self.model,
            "max_tokens": sampling.max_tokens or ANTHROPIC_MAX_TOKENS,
            "messages": [{"role": m.role, "content": m.content} for m in turns],
            "stream": True,
            **extra,
        }

    def _text_of(self, event) -> str:
        """The text one event of the stream carries ("" for the others, whose token counts
        and stop reason are noted)."""
        if event.type == "message_start":
            self._tokens = [event.message.usage.input_tokens, event.message.usage.output_tokens]
        elif event.type == "content_block_delta":
            if event.delta.type == "text_delta":
                return event.delta.text
        elif event.type == "message_delta":
            self._tokens[1] = event.usage.output_tokens
            self.finish = ANTHROPIC_FINISH.get(event.delta.stop_reason, STOPPED)
        elif event.type == "message_stop":
            self.usage = Usage(*self._tokens)
        return ""

    def _check(self, timeout):
        with self._client(timeout) as client:
            client.models.list(limit=1)

    def _translate(self, exc):
        return _sdk_error(self, exc, anthropic)


#: Anthropic's (and Bedrock's) stop reasons that are not a finished answer, in OpenAI's words.
ANTHROPIC_FINISH = {
    "max_tokens": LENGTH,
    "model_context_window_exceeded": LENGTH,
    "refusal": FILTERED,
    "guardrail_intervened": FILTERED,
    "content_filtered": FILTERED,
}
