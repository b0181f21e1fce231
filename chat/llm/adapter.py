"""What every backend kind speaks (:class:`ChatMessage`, :class:`Sampling`, :class:`Usage`,
:class:`LLMError`), and the adapters' common part (:class:`Adapter`): the stream, the check,
the shared clients, and errors in words a person can act on, scrubbed of the key."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
import unicodedata
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

import aiohttp
import httpx
import httpx2  # what the openai and anthropic clients are built on

from chat.stopping import Cancel, read_aside, until_cancelled
from governance.models import Backend

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
#: The code of a backend's refusal of a request longer than its context window: OpenAI's,
#: which API clients know, given to any backend's refusal that says so in its own words.
TOO_LONG = "context_length_exceeded"
#: How the vendors say it (OpenAI, vLLM and llama.cpp's server; Anthropic; Bedrock).
SAYS_TOO_LONG = re.compile(
    r"context (length|window|size)|(prompt|input) is too long|too many (input )?tokens", re.I
)
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
    A request longer than the backend's context is an ``http`` 400 with the code
    :data:`TOO_LONG`, whichever words the vendor used (and from the built-in model too).
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


async def close_async_clients() -> None:
    """Close the running loop's async clients (a loop that ends before its process does)."""
    clients = _async_clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.close()


def no_redirects(sdk, timeout: float, *, on_loop: bool = False):
    """The HTTP client of the ``openai`` or ``anthropic`` SDK, following no redirect.

    The policy approved the backend's address, not wherever it points: a redirect
    followed would carry the question (and Azure's api-key header) there. A 3xx is an
    error instead (:meth:`Adapter._status`). ``on_loop``: the SDK's aiohttp client.
    """
    client = sdk.DefaultAioHttpClient if on_loop else sdk.DefaultHttpxClient
    return client(timeout=timeout, follow_redirects=False)


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
        object (:func:`chat.llm.errors._llm_error_message`), None when the body was not one:
        a policy admin chooses the address, and another service's page is not repeated."""
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
        if status == 400 and (code == TOO_LONG or SAYS_TOO_LONG.search(server_says or "")):
            code = TOO_LONG
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
