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
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
import threading
import time
import unicodedata
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from urllib.parse import urlsplit

import aiohttp
import anthropic
import httpx
import httpx2  # what the openai and anthropic clients are built on
import ollama
import openai
from django.conf import settings

from chat.stopping import Cancel, read_aside, until_cancelled
from config.env import address_end_problem, backend_host_problem, backend_key_variable_problem
from governance import crypto
from governance.models import Backend

ANTHROPIC_MAX_TOKENS = 4096
#: The longest answer asked of the kinds that take a limit by that name. Larger than
#: Anthropic's: reasoning models count their thinking in it too.
ANSWER_MAX_TOKENS = 8192
_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()
#: The async clients of each event loop (an aiohttp session serves the loop it was made in).
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
SERVER_TEXT_LIMIT = 200
#: Said of an error answer whose body is not an LLM API's error object (another service's page).
NOT_AN_LLM_ERROR = "not an LLM API's error"
CUT = (httpx.RemoteProtocolError, httpx.ReadError, httpx2.RemoteProtocolError, httpx2.ReadError)


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class Sampling:
    """How the model is asked to write; None leaves it to the backend (OpenAI's ranges)."""

    temperature: float | None = None  # 0 to 2
    top_p: float | None = None  # 0 to 1
    max_tokens: int | None = None  # at least 1
    stop: tuple[str, ...] | None = None  # where the answer ends, before the sequence
    seed: int | None = None  # the same seed and question: the same answer, where it can be
    frequency_penalty: float | None = None  # -2 to 2
    presence_penalty: float | None = None  # -2 to 2

    @classmethod
    def stored(cls, values: dict | None) -> Sampling:
        """From a message's ``sampling`` column (names it does not know are left out)."""
        known = {f.name for f in fields(cls)}
        values = {name: v for name, v in (values or {}).items() if name in known}
        if values.get("stop"):
            values["stop"] = tuple(values["stop"])
        return cls(**values)

    def to_store(self) -> dict:
        stored = {name: value for name, value in asdict(self).items() if value is not None}
        if self.stop:
            stored["stop"] = list(self.stop)
        return stored

    @property
    def stop_list(self) -> list[str] | None:
        """The stop sequences as the vendors' clients take them; None for none."""
        return list(self.stop) if self.stop else None

    def temperature_up_to(self, highest: float) -> float | None:
        """The temperature for a backend whose range ends lower than OpenAI's 2."""
        return None if self.temperature is None else min(self.temperature, highest)


DEFAULT_SAMPLING = Sampling()

#: Why an answer ended, in OpenAI's words: it was finished; it reached the length limit
#: (the max_tokens asked for, or the backend's own); the backend's content filter cut it.
STOPPED, LENGTH, FILTERED = "stop", "length", "content_filter"


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None
    output_tokens: int | None


@dataclass(frozen=True)
class Health:
    ok: bool
    latency_ms: int
    error: str = ""


class LLMError(Exception):
    """A backend call that failed; ``str()`` is shown to people, ``kind`` is for code.

    Kinds: ``connection``, ``timeout``, ``http``, ``auth``, ``malformed``, ``config``.
    A backend's HTTP answer also gives its ``status``, the vendor's error ``code`` when its
    body names one (OpenAI's ``context_length_exceeded``), and the seconds it asked to be
    left alone (``retry_after``, from a 429's Retry-After): the API answers in their terms.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.code = code
        self.retry_after = retry_after


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
        from chat.llm_builtin import BuiltinAdapter  # imports this module

        return BuiltinAdapter
    return _adapters().get(kind)


async def close_async_clients() -> None:
    """Close the running loop's async clients (a loop that ends before its process does)."""
    clients = _async_clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.close()


def load_adapters() -> None:
    """Load every kind's adapter now (a worker at start), not at its first answer."""
    _adapters()


@functools.cache
def _adapters() -> dict[str, type[Adapter]]:
    """Each kind's adapter but the built-in model's, gathered once, when first asked for
    (the cloud kinds' modules load then: boto3 is slow to load, and a process that never
    calls a backend need not)."""
    from chat.llm_bedrock import BedrockAdapter
    from chat.llm_clouds import AzureAdapter, MistralAdapter, VertexAdapter

    return {
        Backend.Kind.OLLAMA: OllamaAdapter,
        Backend.Kind.OPENAI: OpenAIAdapter,
        Backend.Kind.ANTHROPIC: AnthropicAdapter,
        Backend.Kind.BEDROCK: BedrockAdapter,
        Backend.Kind.AZURE: AzureAdapter,
        Backend.Kind.VERTEX: VertexAdapter,
        Backend.Kind.MISTRAL: MistralAdapter,
    }


def no_redirects(sdk, timeout: float, *, on_loop: bool = False):
    """The HTTP client of the ``openai`` or ``anthropic`` SDK, following no redirect.

    The policy approved the backend's address, not wherever it points: a redirect
    followed would carry the question (and Azure's api-key header) there. A 3xx is an
    error instead (:meth:`Adapter._status`). ``on_loop``: the SDK's aiohttp client.
    """
    client = sdk.DefaultAioHttpClient if on_loop else sdk.DefaultHttpxClient
    return client(timeout=timeout, follow_redirects=False)


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
                f"{backend.name} reads its key from the environment variable "
                f"{backend.credential_env}, which is not set.",
                kind="config",
            )
        return key
    return ""


class Adapter:
    """Streams an answer from one backend; subclasses speak one vendor's client."""

    needs_key = False
    #: Where the vendor's service lives when the backend names no URL. Always passed
    #: explicitly: the clients otherwise read OLLAMA_HOST / OPENAI_BASE_URL /
    #: ANTHROPIC_BASE_URL from the environment, which must not redirect our traffic.
    default_url = ""
    #: What else, besides the URL and the key, makes this backend's client its own.
    client_scope: tuple = ()
    #: Whether :meth:`astream` is there: the kind has an async client of its vendor's.
    streams_async = False

    def __init__(self, backend: Backend, key: str):
        self.name = backend.name
        self.base_url = backend.base_url or self.default_url
        self.model = backend.model
        self._key = key
        self.usage: Usage | None = None
        self.finish = STOPPED
        #: The call's cancel event, and what to call when it starts waiting, for a kind
        #: that may wait before its first chunk (the built-in model, for its lock).
        self.cancel: threading.Event | None = None
        self.on_wait: Callable[[], None] | None = None
        if self.needs_key and not key:
            raise LLMError(
                f"{self.name} has no API key: store one, or name the environment variable "
                "that holds it.",
                kind="config",
            )

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        sampling: Sampling = DEFAULT_SAMPLING,
        on_wait: Callable[[], None] | None = None,
        every_chunk: bool = False,
    ) -> Iterator[str]:
        """Yield the answer's text as it comes; ``self.usage`` and ``self.finish`` are set
        when it ends. ``on_wait`` is called if the answer must wait its turn first. A
        :class:`~chat.stopping.Cancel` ends the iteration the moment it is set, even while
        the backend says nothing (its first words are waited for in a thread of its own).
        ``every_chunk``: a chunk without text (a reasoning model thinking) yields "", the
        caller's chance to look at the clock while such chunks go on."""
        self.usage, self.finish, self.cancel, self.on_wait = None, STOPPED, cancel, on_wait
        texts = self._translated_texts(list(messages), timeout, sampling, every_chunk)
        if isinstance(cancel, Cancel):
            texts, self.on_wait = read_aside(texts, cancel, on_wait)
        yield from texts

    def _translated_texts(
        self, messages: list[ChatMessage], timeout: float, sampling: Sampling, every_chunk: bool
    ):
        with self._translated():
            chunks = self._chunks(messages, timeout, sampling)
            try:
                for text in chunks:
                    if self.cancel is not None and self.cancel.is_set():
                        return
                    if text or every_chunk:
                        yield text
            finally:
                chunks.close()

    async def astream(
        self,
        messages: Sequence[ChatMessage],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        sampling: Sampling = DEFAULT_SAMPLING,
        every_chunk: bool = False,
    ) -> AsyncIterator[str]:
        """:meth:`stream` on the running event loop, with the vendor's async client (for
        kinds whose ``streams_async`` is true); a :class:`~chat.stopping.Cancel` cancels
        the wait for the next chunk."""
        self.usage, self.finish, self.cancel = None, STOPPED, cancel
        with self._translated():
            chunks = self._achunks(list(messages), timeout, sampling)
            if isinstance(cancel, Cancel):
                chunks = until_cancelled(chunks, cancel)
            try:
                async for text in chunks:
                    if cancel is not None and cancel.is_set():
                        return
                    if text or every_chunk:
                        yield text
            finally:
                await chunks.aclose()

    def check(self, *, timeout: float) -> Health:
        """A real, minimal call (list the models) to see the backend answers, and how fast."""
        started = time.monotonic()
        try:
            with self._translated():
                self._check(timeout)
        except LLMError as exc:
            return Health(ok=False, latency_ms=_since(started), error=str(exc))
        return Health(ok=True, latency_ms=_since(started))

    # --- for subclasses -----------------------------------------------------------------

    def _chunks(
        self, messages: list[ChatMessage], timeout: float, sampling: Sampling
    ) -> Iterator[str]:
        raise NotImplementedError

    def _achunks(
        self, messages: list[ChatMessage], timeout: float, sampling: Sampling
    ) -> AsyncIterator[str]:
        raise NotImplementedError

    def _client(self, timeout: float):
        """A new client of the vendor's library (closed by whoever made it)."""
        raise NotImplementedError

    def _async_client(self, timeout: float):
        """A new async client of the vendor's library, for the running event loop."""
        raise NotImplementedError

    def _shared_client(self, timeout: float):
        """This process's client for this backend, made once and kept.

        A client costs tens of milliseconds to build (connection pool, TLS
        context), which would land on every answer's time to first token; the
        vendors' clients are safe to share between threads.
        """
        cache_key = self._cache_key(timeout)
        with _clients_lock:
            client = _clients.get(cache_key)
            if client is None:
                client = _clients[cache_key] = self._client(timeout)
        return client

    def _shared_async_client(self, timeout: float):
        """:meth:`_shared_client` for the running event loop (which only one thread runs)."""
        clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
        cache_key = self._cache_key(timeout)
        client = clients.get(cache_key)
        if client is None:
            client = clients[cache_key] = self._async_client(timeout)
        return client

    def _cache_key(self, timeout: float) -> tuple:
        fingerprint = hashlib.sha256(self._key.encode()).hexdigest()
        return (type(self).__name__, self.base_url, fingerprint, timeout, self.client_scope)

    def _check(self, timeout: float) -> None:
        raise NotImplementedError

    def _translate(self, exc: Exception) -> LLMError | None:
        """The vendor-specific exceptions; None for what the common cases cover."""
        return None

    # --- errors -------------------------------------------------------------------------

    @contextmanager
    def _translated(self):
        try:
            yield
        except LLMError as exc:
            raise self._clean(exc) from None
        except Exception as exc:
            error = self._from_aiohttp(exc) or self._translate(exc) or self._common(exc)
            if error is None:
                raise
            # ``from None``: the vendors' exceptions carry response bodies, kept out of logs.
            raise self._clean(error) from None

    def _common(self, exc: Exception) -> LLMError | None:
        if isinstance(exc, httpx.TimeoutException | httpx2.TimeoutException):
            return self._timeout()
        if isinstance(exc, CUT):
            return self._cut()
        if isinstance(exc, httpx.TransportError | httpx2.TransportError | ConnectionError):
            return self._unreachable()
        if isinstance(exc, UnicodeEncodeError):  # building the headers: nothing was sent
            return self._unsendable()
        if isinstance(exc, ValueError | TypeError | KeyError | AttributeError):
            return self._malformed()
        return None

    def _from_aiohttp(self, exc: BaseException) -> LLMError | None:
        """What the aiohttp transport met, by its own kind, wherever it is in the chain: it
        hands every connection error on as httpx's ConnectTimeout (a refused connection
        would read "did not answer in time")."""
        while exc is not None and not isinstance(exc, aiohttp.ClientError):
            exc = exc.__cause__
        if exc is None:
            return None
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return self._timeout()
        if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
            return self._cut()
        return self._unreachable()

    def _status(
        self,
        status: int,
        server_says: str | None,
        *,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> LLMError:
        """An error answer; ``server_says`` is the vendor's message from an LLM API's error
        object (:func:`_llm_error_message`), None when the body was not one: a policy admin
        chooses the address, and another service's page is not repeated."""
        if 300 <= status < 400:  # the clients follow none: see no_redirects
            return LLMError(
                f"{self.name} redirected to another address; Steward does not follow "
                "redirects: point the backend at the final address.",
                kind="http",
                status=status,
            )
        if server_says is None:
            said, refused = f" ({NOT_AN_LLM_ERROR}).", f"(HTTP {status}, {NOT_AN_LLM_ERROR})."
        else:
            said = self._server_text(server_says)
            said = f": {said}" if said else "."
            refused = f"(HTTP {status}){said}"
        if status in (401, 403):
            return LLMError(
                f"{self.name} refused the API key {refused}", kind="auth", status=status
            )
        return LLMError(
            f"{self.name} answered HTTP {status}{said}",
            kind="http",
            status=status,
            code=code,
            retry_after=retry_after,
        )

    def _reported(self, server_says) -> LLMError:
        """An error the server reported inside its answer's (HTTP 200) stream."""
        said = self._server_text(server_says) or "an error in the stream"
        return LLMError(f"{self.name} reported an error: {said}", kind="http")

    def _server_text(self, server_says) -> str:
        """What a server said, on one line, without control or format characters (a
        terminal's escapes, bidi overrides) and cut to a length; scrubbed before the cut,
        which could leave a key too short to be recognised."""
        line = " ".join(str(server_says or "").split())
        line = "".join(c for c in line if unicodedata.category(c) not in ("Cc", "Cf"))
        return self._scrub(line)[:SERVER_TEXT_LIMIT]

    def _unsendable(self) -> LLMError:
        """A header the client could not write (a key stored before the form refused
        characters outside ASCII): our configuration, not the server's answer."""
        return LLMError(
            f"{self.name} could not send the request: its key holds characters an HTTP header "
            "cannot carry. Type the key again in the backend's settings.",
            kind="config",
        )

    def _timeout(self) -> LLMError:
        return LLMError(f"{self.name} did not answer in time.", kind="timeout")

    def _unreachable(self) -> LLMError:
        where = f" at {self.base_url}" if self.base_url else ""
        return LLMError(f"Cannot connect to {self.name}{where}.", kind="connection")

    def _cut(self) -> LLMError:
        return LLMError(f"The connection to {self.name} was lost mid-answer.", kind="connection")

    def _malformed(self) -> LLMError:
        return LLMError(
            f"{self.name} sent an answer that is not what its protocol says.", kind="malformed"
        )

    def _clean(self, error: LLMError) -> LLMError:
        text = self._scrub(str(error))
        if text != str(error):
            error.args = (text,)
        return error

    def _scrub(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "[key]")
        return text

    def _secrets(self) -> tuple[str, ...]:
        """What no message may show (a kind whose key has parts adds them)."""
        return (self._key,)


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


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


def alternating_turns(turns: Sequence[ChatMessage]) -> list[ChatMessage]:
    """``turns`` as Anthropic's and Bedrock's APIs take them: the first one the user's, no
    two of one role in a row, none empty (they refuse each of these).

    A turn with no text is left out (an answer that came back empty), and so is an
    assistant's before the user's first (a widget's greeting, or a history whose oldest
    turns were cut). Each run of one role is joined into one turn, a blank line between
    (a question whose answer failed and the next one; a request's context and its
    question): the model reads them together, as they were written. A system turn stays
    where it is (the adapters take those out first, into the vendor's own field).
    """
    joined: list[ChatMessage] = []
    asked = False
    for turn in turns:
        if not turn.content.strip() or (turn.role == "assistant" and not asked):
            continue
        asked = asked or turn.role == "user"
        if joined and joined[-1].role == turn.role:
            joined[-1] = ChatMessage(turn.role, f"{joined[-1].content}\n\n{turn.content}")
        else:
            joined.append(turn)
    return joined


#: Anthropic's (and Bedrock's) stop reasons that are not a finished answer, in OpenAI's words.
ANTHROPIC_FINISH = {
    "max_tokens": LENGTH,
    "model_context_window_exceeded": LENGTH,
    "refusal": FILTERED,
    "guardrail_intervened": FILTERED,
    "content_filtered": FILTERED,
}


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
