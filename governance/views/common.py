"""Helpers every view module shares."""

from django.http import HttpRequest


def wants_partial(request: HttpRequest) -> bool:
    """An htmx request that swaps part of the page (a boosted one wants the whole page)."""
    return bool(request.htmx) and not request.htmx.boosted
