"""The ASGI application: Django's full stack, and a lean one for the OpenAI-compatible API.

Three handlers, chosen by path:

- ``/v1/`` is called by programs with a personal token, many times a second:
  no session, cookie, CSRF token, message or page is involved, so its requests
  skip those middlewares (and the thread Django starts per request to run
  them) and keep what every request needs: the allowed-hosts check, the request id
  and the security headers.
- An answer's event stream (a view marked ``config.middleware.event_stream``) goes through
  every middleware in ``settings.MIDDLEWARE``, like a page, but without a thread
  of its own: what little sync work it does (session, user, permissions, the
  message) runs on asgiref's one shared thread, whose database connection stays
  open for the next stream. A thread per stream would sit parked for the stream's
  minutes, and its connection would have to be closed and opened anew each time.
- Every other request goes through ``settings.MIDDLEWARE`` on a thread of its
  own, as Django runs it, but a thread kept for the next request rather than
  started and stopped for each one: its database connection lives on
  (``CONN_MAX_AGE``) instead of being opened again for every page.

Every handler refuses a request body larger than ``MAX_BODY_BYTES`` with 413,
before reading it when its length is declared, as soon as it passes the limit
when it is not. Django's own handler reads any body whole (to a temporary
file past a few megabytes) before a view or a check sees the request: one
anonymous POST could fill the disk.
"""

import asyncio
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does before its handler

from django.conf import settings  # noqa: E402  (after setup)
from django.db import DatabaseError, connections  # noqa: E402
from django.middleware.common import CommonMiddleware  # noqa: E402
from django.middleware.security import SecurityMiddleware  # noqa: E402
from django.urls import Resolver404, resolve, set_script_prefix  # noqa: E402

from api import relay  # noqa: E402
from chat import llm  # noqa: E402
from config.bodies import API_PREFIX, MAX_BODY_BYTES, too_large_response  # noqa: E402
from config.heap import freeze_after_loading  # noqa: E402
from config.middleware import InEventLoop, RequestIdMiddleware, on_shared_thread  # noqa: E402

#: How long a thread may keep the GIL while another waits for it (Python's default: 5 ms).
#: A request changes threads several times (the event loop, a database thread, the thread
#: streaming its answer), and each time the one woken waits for the GIL until the one
#: that woke it lets go: with turns of 2 ms, one client's added p99 fell from +14–15 to
#: +11–12 ms in bench/api.py (interleaved runs; the machine's drift makes it a tendency).
GIL_TURN_SECONDS = 0.002
sys.setswitchinterval(GIL_TURN_SECONDS)
#: How long a stopping server waits for the answers still streaming on its loop.
ANSWERS_GRACE_SECONDS = 5


class BodyTooLarge(Exception):
    """A request body larger than :data:`MAX_BODY_BYTES`."""


class Handler(ASGIHandler):
    """Django's ASGI handler, whose requests leave no reference cycle behind.

    A request's objects in a reference cycle outlive it until the garbage
    collector's next full round, which walked everything (config.heap). Django
    makes two with every request: its ``handle`` raises the disconnect listener's
    RequestAborted again in its own frame (the traceback holds the frame, the
    frame the task, the task the exception), and the authentication middleware
    gives the request attributes that refer back to it (``request.auser``, a
    partial of it; ``request.user``, a lazy object whose function holds it).
    Here the listener just returns, and a request's attributes are dropped once
    its response has been sent.
    """

    async def handle(self, scope, receive, send):
        try:
            if _declared_length(scope) > MAX_BODY_BYTES:
                raise BodyTooLarge
            await self.handle_request(scope, receive, send)
        except BodyTooLarge:
            await self.send_response(too_large_response(scope["path"]), send)
        finally:
            request = scope.pop(_REQUEST, None)
            if request is not None:
                request.__dict__.clear()

    async def read_body(self, receive):
        """Django's, counting: past :data:`MAX_BODY_BYTES` it stops reading."""
        read = 0

        async def counted():
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > MAX_BODY_BYTES:
                raise BodyTooLarge
            return message

        return await super().read_body(counted)

    async def handle_request(self, scope, receive, send):
        await super().handle(scope, receive, send)

    def create_request(self, scope, body_file):
        request, error_response = super().create_request(scope, body_file)
        scope[_REQUEST] = request
        return request, error_response

    async def listen_for_disconnect(self, receive):
        message = await receive()
        if message["type"] != "http.disconnect":  # Django asserts the same
            raise AssertionError(f"Invalid ASGI message after request body: {message['type']}")


#: Where :class:`Handler` keeps a request in its scope, to find it once the response is sent.
_REQUEST = "steward.request"


def _declared_length(scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0  # uvicorn refuses a malformed one
    return 0


class PageHandler(Handler):
    """Django's ASGI handler, each request on a thread of its own, reused afterwards.

    Django gives each request a new thread (a ``ThreadSensitiveContext``) for its
    sync code, and with the thread went its database connection: each page began
    by connecting (about 4 ms here, more on a busy server) to a database process
    whose caches were cold. Here a request borrows an idle thread, and gives it
    back when its response has been sent; at most ``IDLE_THREADS`` wait, each with
    its connection, which Django's request signals close once it is older than
    ``CONN_MAX_AGE`` or unusable, as under WSGI.
    """

    IDLE_THREADS = 4

    def __init__(self):
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._borrow()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._give_back(executor)

    def _borrow(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()  # the most recently used: its connection is the freshest
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < self.IDLE_THREADS:
                self._idle.append(executor)
                return
        executor.submit(connections.close_all)  # one too many: it goes, and its connection too
        executor.shutdown(wait=False)


class StreamHandler(Handler):
    """Django's ASGI handler and middlewares, the sync work on asgiref's shared thread."""

    async def __call__(self, scope, receive, send):
        token = on_shared_thread.set(True)
        try:
            await self.handle(scope, receive, send)
        finally:
            on_shared_thread.reset(token)


class ApiHandler(Handler):
    """Django's ASGI handler with only Common, Security and the request id around views."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response_async)
        for hooks in (CommonMiddleware, SecurityMiddleware):  # the allowed hosts are Common's
            handler = convert_exception_to_response(InEventLoop(hooks, handler))
        self._middleware_chain = convert_exception_to_response(RequestIdMiddleware(handler))

    async def __call__(self, scope, receive, send):
        # Django's own wraps each request in a ThreadSensitiveContext, a thread started and
        # stopped per request for its "thread sensitive" sync code; here there is none.
        await self.handle(scope, receive, send)

    async def handle_request(self, scope, receive, send):
        """Django's ``ASGIHandler.handle`` without its two trips to asgiref's shared thread:
        one to send request_started, one to close the response (which sends
        request_finished). Their receivers close the stale database connections of the
        thread they run on, and the API's database work runs elsewhere, on threads that
        check their own connections (:func:`config.connections.in_database_thread`)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            return
        response = None

        async def process_request():
            nonlocal response
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client went away
                await self.send_response(response, send)

        # As Django: a client that disconnects cancels the view (it stops its answer).
        disconnected = asyncio.create_task(self.listen_for_disconnect(receive))
        processing = asyncio.create_task(process_request())
        await asyncio.wait((disconnected, processing), return_when=asyncio.FIRST_COMPLETED)
        await _finish(disconnected, processing)
        if response is not None:
            # Sends request_finished here, in the event loop: its receivers find no
            # database connection of this thread to check.
            response.close()
        body_file.close()


async def _finish(*tasks: asyncio.Task) -> None:
    """Cancel what is still running and wait for it, raising no CancelledError here (see
    :class:`Handler`: raised, it would hold this frame in a cycle with its task)."""
    for task in tasks:
        if not task.done():
            task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()


django_application = PageHandler()
stream_application = StreamHandler()
api_application = ApiHandler()
# The URLconf imports every view and what they use: loaded now, it is kept out of the
# garbage collector's rounds (config.heap).
freeze_after_loading(settings.ROOT_URLCONF)


def _is_event_stream(scope) -> bool:
    path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
    try:
        return getattr(resolve(path).func, "event_stream", False)
    except Resolver404:
        return False


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] == "http":
        if scope["path"].startswith(API_PREFIX):
            return await api_application(scope, receive, send)
        if _is_event_stream(scope):
            return await stream_application(scope, receive, send)
    return await django_application(scope, receive, send)


def _refusal_at_start() -> str | None:
    """Why this server must not start: the subject index is under another key (it would
    index new messages where nobody finds them), or the database cannot tell."""
    from chat import index_key

    try:
        return index_key.settle()
    except DatabaseError as exc:
        return f"The database could not be reached to check the subject index's key: {exc!r}"
    finally:
        connections.close_all()


async def _lifespan(receive, send) -> None:
    """The server's start and stop: at the start, a refusal to run under another subject
    index key (:func:`_refusal_at_start`), nothing to open; at the stop, the answers
    still streaming on the loop are given a few seconds to end (their clients may have gone),
    then the backends' async clients (:func:`chat.llm.close_async_clients`) end their
    connections cleanly."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if refused := await sync_to_async(_refusal_at_start)():
                await send({"type": "lifespan.startup.failed", "message": refused})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await relay.finish_answers(ANSWERS_GRACE_SECONDS)
            await llm.close_async_clients()
            await send({"type": "lifespan.shutdown.complete"})
            return
