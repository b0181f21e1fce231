"""Audited reads that a link from another site must not run on its own.

Some GET pages record an event when opened: a breach scope, an export, a download of a
request's archive. The session cookie is ``SameSite=Lax``, so it travels with a top-level
GET from anywhere: a link in an email or a chat message on another site would open them as
the person signed in, and the trail would then say they ran what they never asked for.

Browsers say where a request comes from in ``Sec-Fetch-Site``. ``same-origin`` (a link or
form on Steward's own pages) and ``none`` (typed, bookmarked, opened from the address bar)
run the view; any other value (``cross-site``, ``same-site``: another site, another
subdomain) gets a page that says what the link asks for, with a link to do it from here
(the browser then sends ``same-origin``). A request without the header (an old browser,
a command-line client with a session cookie; browsers send none over plain HTTP to a host
other than localhost) runs as before.
"""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import resolve, reverse

#: ``Sec-Fetch-Site`` values that run an audited view: Steward's own pages, and the address
#: bar (typed, bookmarked).
RUN_FROM = frozenset({"same-origin", "none"})


def same_site_or_confirm(
    asks: str, *, button: str, when: Callable[[HttpRequest], bool] | None = None
) -> Callable:
    """Run the decorated GET view only when it was asked for from Steward itself (or the
    address bar); from another site, a page that asks first.

    ``asks``: what the view does, as the page says it ("run a breach scope"); ``button``:
    the link that does it ("Run the breach scope"); ``when``: for a view that records only
    for some requests (a report's file, not its page), which ones to ask about.
    Goes under the method and role decorators: a visitor without the role is refused as
    before, never shown the page.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            site = request.headers.get("Sec-Fetch-Site")
            if (
                request.method == "GET"  # a POST has its CSRF check
                and site is not None
                and site not in RUN_FROM
                and (when is None or when(request))
            ):
                return confirm_page(request, asks=asks, button=button)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def confirm_page(request: HttpRequest, *, asks: str, button: str) -> HttpResponse:
    """The page a link from another site gets: nothing run, downloaded or recorded."""
    context = {"asks": asks, "button": button, "address": same_address(request)}
    return render(request, "confirm_link.html", context)


def same_address(request: HttpRequest) -> str:
    """The address asked for, as a path on this site: rebuilt from the URL pattern that
    matched it (never the request's own path, which could start ``//`` and name another
    host), with the query re-encoded."""
    match = request.resolver_match or resolve(request.path_info)
    path = reverse(match.view_name, args=match.args, kwargs=match.kwargs)
    query = request.GET.urlencode()
    return f"{path}?{query}" if query else path
