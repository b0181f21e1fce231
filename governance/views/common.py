"""Helpers every view module shares."""

from urllib.parse import urlencode

from django.http import HttpRequest


def wants_partial(request: HttpRequest) -> bool:
    """An htmx request that swaps part of the page (a boosted one wants the whole page)."""
    return bool(request.htmx) and not request.htmx.boosted


def pager_query(**filters: str) -> str:
    """The query string a pager's links carry before ``page=``: the list's filters that are
    set, so that paging stays within them (``pager_query(q="ann", show="")`` is ``"q=ann"``).

    The view passes the values it cleaned, not the request's query string, so that a stray
    or unknown parameter is not carried from page to page.
    """
    return urlencode({name: value for name, value in filters.items() if value})


def site_address(request: HttpRequest) -> str:
    """The site's address as the person reached it, for links in mail ("https://host")."""
    return request.build_absolute_uri("/").rstrip("/")
