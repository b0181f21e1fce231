"""``{% load archive_text %}``: the access copy's machine-readable values, for people."""

import datetime as dt

from django import template

register = template.Library()


@register.filter
def from_iso(value):
    """An ISO 8601 date or time (as ``data.json`` holds it) as one, for Django's ``date``
    filter; anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    except ValueError:
        return value
