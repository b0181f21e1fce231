"""Audited reads that run only when asked for from Steward's own pages.

Some GET pages record an event when opened: a breach scope, an export, a download of a
request's archive. The session cookie is ``SameSite=Lax``, so it travels with a top-level
GET from anywhere, and where a request came from cannot be told apart reliably: a link in
another site's page, in a desktop mail or chat app, in a model's answer shown on Steward's
own page, or followed after signing in (the login page's ``next``) all look like Steward or
the address bar to ``Sec-Fetch-Site``. The trail would then say an officer ran what they
never asked for.

So Steward's own links to these pages carry ``asked=<token>``: a keyed hash of the session's
key (:func:`token_for`), which nobody else can know and which dies at every sign-in (the
session key changes then). Without it, or with one that is wrong or from before a sign-in,
the page says what the address asks for and offers a button that does it (the same address,
with a valid token): nothing is run, downloaded or recorded until it is pressed. A
bookmarked or typed address asks too: one click more. A browser's prefetch or prerender
(``Sec-Purpose``) never runs one. Templates get the token as ``asked_token``
(:func:`context`); a view drops it from the query it reads (:func:`without_token`).
"""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import resolve, reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.functional import lazy

#: The query parameter that carries the token.
PARAMETER = "asked"
SALT = "steward.asked-here"


def token_for_session(session_key: str | None) -> str:
    """The token of the session with this key; "" without a key (then none is valid)."""
    if not session_key:
        return ""
    return salted_hmac(SALT, session_key, algorithm="sha256").hexdigest()[:32]


def token_for(request: HttpRequest) -> str:
    """The token Steward's links carry for this request's session ("" without a session:
    a signed-in person always has one, its key changed at their sign-in)."""
    session = getattr(request, "session", None)
    return token_for_session(session.session_key if session is not None else None)


def is_asked_here(request: HttpRequest) -> bool:
    """Whether the request carries its session's token, and is not a browser's prefetch or
    prerender (an address-bar suggestion Chrome loads before Enter is pressed)."""
    token = token_for(request)
    given = request.GET.get(PARAMETER, "")
    purpose = request.headers.get("Sec-Purpose") or request.headers.get("Purpose") or ""
    return bool(token) and constant_time_compare(given, token) and "prefetch" not in purpose


def without_token(query: QueryDict) -> QueryDict:
    """``query`` without the token: what a view reads, and re-uses to build its links."""
    kept = query.copy()
    kept.pop(PARAMETER, None)
    return kept


def context(request: HttpRequest) -> dict:
    """``asked_token`` for templates (worked out only where a template uses it):
    ``href="{% url 'audit:checkpoints_file' %}?asked={{ asked_token }}"``, or a GET form's
    ``<input type="hidden" name="asked" value="{{ asked_token }}">``."""
    return {"asked_token": lazy(token_for, str)(request)}


def asked_here(
    asks: str,
    *,
    button: str,
    when: Callable[[HttpRequest], bool] | None = None,
    check: Callable[..., object] | None = None,
) -> Callable:
    """Run the decorated GET view only when its address carries the session's token (a link
    or form on Steward's own pages); otherwise a page that asks first.

    ``asks``: what the view does, as the page says it ("run a breach scope"); ``button``:
    the link that does it ("Run the breach scope"); ``when``: for a view that records only
    for some requests (a report's file, not its page), which ones to ask about; ``check``:
    the view's own access check, given the view's arguments (it raises ``Http404``), run
    before asking. Goes under the method and role decorators: a visitor without the role,
    or who may not see what the address names, is refused as before, never shown the page.
    A POST has its CSRF check instead.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if (
                request.method in ("GET", "HEAD")
                and (when is None or when(request))
                and not is_asked_here(request)
            ):
                if check is not None:
                    check(request, *args, **kwargs)
                return confirm_page(request, asks=asks, button=button)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def confirm_page(request: HttpRequest, *, asks: str, button: str) -> HttpResponse:
    """The page an address without the token gets: nothing run, downloaded or recorded. It
    shows the address as asked for (without any token) and links it with this session's."""
    context = {
        "asks": asks,
        "button": button,
        "shown": same_address(request, with_token=False),
        "address": same_address(request),
    }
    return render(request, "confirm_link.html", context)


def same_address(request: HttpRequest, *, with_token: bool = True) -> str:
    """The address asked for, as a path on this site, with this session's token: rebuilt
    from the URL pattern that matched it (never the request's own path, which could start
    ``//`` and name another host), the query re-encoded without any token it carried."""
    match = request.resolver_match or resolve(request.path_info)
    path = reverse(match.view_name, args=match.args, kwargs=match.kwargs)
    query = without_token(request.GET)
    if with_token:
        query[PARAMETER] = token_for(request)
    return f"{path}?{query.urlencode()}" if query else path
