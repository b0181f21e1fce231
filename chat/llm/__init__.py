"""The one module that talks to model backends, through the vendors' own clients.

Every backend speaks the same small interface::

    adapter = adapter_for(backend)
    for text in adapter.stream(messages, timeout=30, cancel=event):
        ...
    adapter.usage  # Usage(input_tokens, output_tokens) or None
    adapter.finish  # why it ended: "stop", "length" (the length limit), "content_filter"

Whatever goes wrong (no connection, a timeout, an HTTP error, a stream that is
cut or not what the protocol says) comes out as :class:`LLMError` with a
message a person can act on and a ``kind`` code can branch on. The API key is
never part of a message: anything a server says back is scrubbed of it.

``timeout`` is the clients' own: the longest wait for a connection or for the
next bytes of the answer, not a limit on the whole answer. ``cancel`` is looked
at between chunks; when it is set the stream is closed and iteration ends. A
:class:`~chat.stopping.Cancel` ends it at once, also while the backend is silent.
``sampling`` (temperature, top_p, max_tokens, stop sequences; what an API
client asked for) is passed on in each vendor's terms; what it leaves unset is
the backend's default.

The interface and the adapters' common part are in :mod:`.adapter`; the kinds, and the
adapter for a backend, in :mod:`.kinds`; Ollama's, OpenAI's and Anthropic's adapters each
in a module of its own; what a vendor's error answer says in :mod:`.errors`. The cloud
kinds are in :mod:`.clouds` and :mod:`.bedrock`, the built-in model in :mod:`.builtin`
(loaded when first needed, not with the package).
"""

from chat.llm.adapter import (
    ANSWER_MAX_TOKENS,
    DEFAULT_SAMPLING,
    FILTERED,
    LENGTH,
    STOPPED,
    TOO_LONG,
    Adapter,
    ChatMessage,
    Health,
    LLMError,
    Sampling,
    Usage,
    alternating_turns,
    close_async_clients,
    no_redirects,
)
from chat.llm.anthropic_adapter import ANTHROPIC_FINISH, ANTHROPIC_MAX_TOKENS, AnthropicAdapter
from chat.llm.kinds import adapter_for, can_stream_async, load_adapters
from chat.llm.ollama_adapter import OllamaAdapter
from chat.llm.openai_adapter import OpenAIAdapter

__all__ = [
    "ANSWER_MAX_TOKENS",
    "ANTHROPIC_FINISH",
    "ANTHROPIC_MAX_TOKENS",
    "DEFAULT_SAMPLING",
    "FILTERED",
    "LENGTH",
    "STOPPED",
    "TOO_LONG",
    "Adapter",
    "AnthropicAdapter",
    "ChatMessage",
    "Health",
    "LLMError",
    "OllamaAdapter",
    "OpenAIAdapter",
    "Sampling",
    "Usage",
    "adapter_for",
    "alternating_turns",
    "can_stream_async",
    "close_async_clients",
    "load_adapters",
    "no_redirects",
]
