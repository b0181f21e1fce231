"""Each backend kind's adapter, and the adapter for a backend: its kind's class, its key,
and the checks of its address made at each call."""

from __future__ import annotations

import functools
import os

from django.conf import settings

from chat.llm.adapter import Adapter, LLMError
from chat.llm.anthropic_adapter import AnthropicAdapter
from chat.llm.ollama_adapter import OllamaAdapter
from chat.llm.openai_adapter import OpenAIAdapter
from config.env import address_end_problem, backend_host_problem, backend_key_variable_problem
from governance import crypto
from governance.models import Backend


def adapter_for(backend: Backend) -> Adapter:
    """The adapter for ``backend``'s kind, holding its key (sealed credential, else env)."""
    adapter_class = _adapter_class(backend.kind)
    if adapter_class is None:
        raise LLMError(f"Unknown backend kind {backend.kind!r}.", kind="config")
    # Saved before the address had to end at its path: the client would build wrong URLs.
    if problem := address_end_problem(backend.base_url):
        raise LLMError(
            f"{backend.name} may not be called: {problem} Edit the backend's address in the "
            "policy console.",
            kind="config",
        )
    # Saved before STEWARD_BACKEND_HOSTS was set, or its name resolves elsewhere now.
    if problem := backend_host_problem(backend.base_url, settings.STEWARD_BACKEND_HOSTS):
        raise LLMError(f"{backend.name} may not be called: {problem}", kind="config")
    key = "" if backend.kind == Backend.Kind.BUILTIN else _key_of(backend)
    return adapter_class(backend, key)


def can_stream_async(backend: Backend) -> bool:
    """Whether ``backend``'s adapter has :meth:`Adapter.astream` (an event loop can call it
    without a thread)."""
    adapter_class = _adapter_class(backend.kind)
    return adapter_class is not None and adapter_class.streams_async


def _adapter_class(kind: str) -> type[Adapter] | None:
    if kind == Backend.Kind.BUILTIN:
        from chat.llm.builtin import BuiltinAdapter  # it imports the package, so this module

        return BuiltinAdapter
    return _adapters().get(kind)


def load_adapters() -> None:
    """Load every kind's adapter now (a worker at start), not at its first answer."""
    _adapters()


@functools.cache
def _adapters() -> dict[str, type[Adapter]]:
    """Each kind's adapter but the built-in model's, gathered once, when first asked for
    (the cloud kinds' modules load then: boto3 is slow to load, and a process that never
    calls a backend need not)."""
    from chat.llm.bedrock import BedrockAdapter
    from chat.llm.clouds import AzureAdapter, MistralAdapter, VertexAdapter

    return {
        Backend.Kind.OLLAMA: OllamaAdapter,
        Backend.Kind.OPENAI: OpenAIAdapter,
        Backend.Kind.ANTHROPIC: AnthropicAdapter,
        Backend.Kind.BEDROCK: BedrockAdapter,
        Backend.Kind.AZURE: AzureAdapter,
        Backend.Kind.VERTEX: VertexAdapter,
        Backend.Kind.MISTRAL: MistralAdapter,
    }


def _key_of(backend: Backend) -> str:
    if backend.credential_encrypted:
        try:
            return backend.open_credential()
        except crypto.SealError:
            raise LLMError(
                f"The stored key of {backend.name} cannot be opened with the configured master "
                "key; enter the key again.",
                kind="config",
            ) from None
    if backend.credential_env:
        # The form refuses such a name; an older row, or a variable since withdrawn, say.
        if problem := backend_key_variable_problem(
            backend.credential_env, settings.STEWARD_BACKEND_KEY_VARIABLES
        ):
            raise LLMError(f"{backend.name} cannot read its key: {problem}", kind="config")
        key = os.environ.get(backend.credential_env, "")
        if not key:
            raise LLMError(
                # Read by whoever sent a message, or called /v1 with their own key at hand:
                # the variable is the Steward server's, not theirs to set.
                f"{backend.name} reads its key from the environment variable "
                f"{backend.credential_env}, which is not set on the Steward server.",
                kind="config",
            )
        return key
    return ""
