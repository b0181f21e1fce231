"""Request-wide concerns: request ids, session lifetime, the MFA requirement, event streams."""

import contextvars
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import BadRequest
from django.db import DataError, connections
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.deprecation import MiddlewareMixin
from django_htmx.http import HttpResponseClientRedirect

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_request_id", default="-"
)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SESSION_AUTH_STARTED = "steward_auth_started_at"
SESSION_SEEN = "steward_seen_at"
#: The idle window (``SESSION_COOKIE_AGE``) starts again at most this often: saving the
#: session on every request cost a database write per page, and two per chat message.
SESSION_SLIDE_SECONDS = 60
#: Set by ``config.asgi`` for an event stream's request, whose sync code runs on asgiref's
#: one shared thread: that thread's database connection serves every stream in turn.
on_shared_thread: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "on_shared_thread", default=False
)

Handler = Callable[[HttpRequest], HttpResponse]


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class WithholdExceptionText(logging.Filter):
    """Tracebacks keep their frames but not the exception's text, which can quote what
    someone wrote (a parser's "invalid literal …", a backend's error body). A client's
    error (a 403, a 400) keeps its one line and loses its traceback: Django attaches one,
    and thirty lines per refused page buried the server's own errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = record.exc_text = None
        elif record.exc_info and record.exc_info[1] is not None:
            kind, _, trace = record.exc_info
            frames = "".join(traceback.format_tb(trace))
            record.exc_text = (
                f"Traceback (most recent call last):\n{frames}"
                f"{kind.__module__}.{kind.__qualname__}: [text withheld]"
            )
        return True


def event_stream(view: Handler) -> Handler:
    """Mark a view as an event stream, for ``config.asgi`` to serve without a thread of its
    own (every middleware still runs)."""
    view.event_stream = True  # type: ignore[attr-defined]
    return view


class ReleaseDatabaseForStreamsMiddleware:
    """Open event streams a few at a time, and give back their database connection.

    Django closes a request's connection only when the response has been sent;
    an answer's event stream stays open for minutes, and two hundred of them
    would hold two hundred connections doing nothing. So, for requests that ask
    for an event stream (``Accept: text/event-stream``, as every EventSource
    does) on a thread of their own: at most ``STREAM_OPENINGS`` are set up at
    once (two hundred pages reconnecting together would otherwise open two
    hundred connections in the same instant), and the connection is closed
    before the stream starts. What a stream reads later opens and closes its own.

    Under ``config.asgi`` the streams themselves have no thread of their own
    (:data:`on_shared_thread`): their openings take turns on the shared thread,
    whose one connection stays open for the next. This is for what comes another
    way (the WSGI application, the test client).
    """

    STREAM_OPENINGS = 8
    _openings = threading.BoundedSemaphore(STREAM_OPENINGS)

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if on_shared_thread.get() or request.headers.get("Accept") != "text/event-stream":
            return self.get_response(request)
        with self._openings:
            try:
                return self.get_response(request)
            finally:
                for connection in connections.all(initialized_only=True):
                    if not connection.in_atomic_block:
                        connection.close()


class RequestIdMiddleware:
    """Tag every request with an id (kept from a proxy's X-Request-ID when sane).

    The id goes into every log line and audit event of the request and back to
    the client, and ``Vary: HX-Request`` keeps caches from mixing pages and fragments.
    Sync or async, as the handler it wraps.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self._acall(request)
        token = current_request_id.set(self._tag(request))
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        return self._tagged(request, response)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = current_request_id.set(self._tag(request))
        try:
            response = await self.get_response(request)
        finally:
            current_request_id.reset(token)
        return self._tagged(request, response)

    @staticmethod
    def _tag(request: HttpRequest) -> str:
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        return request.request_id

    @staticmethod
    def _tagged(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response["X-Request-ID"] = request.request_id
        patch_vary_headers(response, ("HX-Request",))
        return response


def holds_nul(exc: Exception) -> bool:
    """Whether ``exc`` is PostgreSQL refusing a NUL character a client sent (in a lookup a
    form did not clean first: a query string, a select's value)."""
    return isinstance(exc, DataError) and "NUL (0x00)" in str(exc)


class UnstorableTextMiddleware(MiddlewareMixin):
    """A NUL character in what was sent is the client's error (400), not Steward's (500)."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if holds_nul(exception):
            raise BadRequest("The request held a NUL character") from exception


class HealthCheckMiddleware:
    """Answer ``/healthz`` before the HTTPS redirect and the allowed-hosts check.

    Load balancers probe each instance directly: over plain HTTP (the redirect's 301 is
    not healthy) and often by its IP address (not an allowed host, a 400). The answer
    says only whether the database and Redis are reachable.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz":
            from governance.views import healthz

            return healthz(request)
        return self.get_response(request)


class InEventLoop:
    """An async middleware running the hooks of a ``MiddlewareMixin`` one in the event loop.

    Only for hooks that do no I/O (SecurityMiddleware's redirect and headers):
    Django would run each hook in a thread and come back, two thread hops per
    request for a few dictionary look-ups.
    """

    sync_capable = False
    async_capable = True

    def __init__(self, middleware_class, get_response) -> None:
        self.hooks = middleware_class(get_response)
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.hooks.process_request(request) or await self.get_response(request)
        return self.hooks.process_response(request, response)


class SessionLifetimeMiddleware:
    """Slide a session's idle window with its activity, and end it past its absolute
    lifetime, whatever the activity; what a session's pages show is not cached.

    The idle timeout is Django's ``SESSION_COOKIE_AGE``, counted from the session's
    last save: a request saves it when the last save is ``SESSION_SLIDE_SECONDS``
    old, so a session ends between ``SESSION_COOKIE_AGE`` minus a minute and
    ``SESSION_COOKIE_AGE`` after its last request. The hard ceiling is counted
    from the moment of login.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            started = request.session.get(SESSION_AUTH_STARTED)
            if started is None:
                request.session[SESSION_AUTH_STARTED] = now
            elif now - started > settings.STEWARD_SESSION_MAX_AGE:
                logout(request)
                messages.info(request, "Your session has ended. Please sign in again.")
                return redirect(f"{reverse('account_login')}?next={request.path}")
            if now - request.session.get(SESSION_SEEN, 0) >= SESSION_SLIDE_SECONDS:
                request.session[SESSION_SEEN] = now  # saved: the idle window starts again
            response = self.get_response(request)
            # What a signed-in person sees is theirs (a conversation's title, a request's
            # subject): kept neither by a shared proxy nor by the browser, so that Back
            # after signing out shows nothing. A view that says otherwise keeps its word.
            response.headers.setdefault("Cache-Control", "no-store, private")
            return response
        return self.get_response(request)


class SignInWholePageMiddleware:
    """Send the whole page to sign in (or to enrol a second factor) when an htmx request
    is redirected there.

    The redirect to the login page (from ``login_required``, or from the end of a
    session's lifetime) would be followed by the request itself, and htmx would swap
    the sign-in page into the page where the fragment should go. Instead the page
    is told to go there (``HX-Redirect``), to come back to itself once signed in:
    the address htmx sends as ``HX-Current-URL`` when it is this site's, else the
    view's own. :class:`RequireMfaMiddleware`'s redirect to enrolment likewise.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.htmx or response.status_code != 302:  # type: ignore[attr-defined]
            return response
        target = urlsplit(response["Location"]).path
        login = resolve_url(settings.LOGIN_URL)
        if target == login:
            current = request.htmx.current_url_abs_path  # type: ignore[attr-defined]
            page = urlsplit(current).path if current else request.path
            return HttpResponseClientRedirect(f"{login}?next={quote(page)}")
        if target == reverse(RequireMfaMiddleware.ENROL):
            return HttpResponseClientRedirect(target)
        return response


class RequireMfaMiddleware:
    """Send admins and privacy officers without an authenticator to enrol one.

    Only the MFA pages, logout and static files stay reachable until they do.
    """

    ALLOWED_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/accounts/reauthenticate/")
    ENROL = "mfa_activate_totp"

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._must_enrol(request):
            messages.warning(
                request, "Your role requires two-factor authentication. Set it up to continue."
            )
            return redirect(self.ENROL)  # htmx: the whole page (SignInWholePageMiddleware)
        return self.get_response(request)

    def _must_enrol(self, request: HttpRequest) -> bool:
        from governance.access import must_enrol_mfa

        if not settings.STEWARD_REQUIRE_MFA:
            return False
        user = request.user
        if not user.is_authenticated or request.path.startswith(self.ALLOWED_PREFIXES):
            return False
        if request.path.startswith(settings.STATIC_URL):
            return False
        return must_enrol_mfa(user)
