"""``{% load archive_text %}``: the access copy's machine-readable values, for people."""

import datetime as dt

from django import template
from django.template.defaultfilters import date
from django.utils import timezone

register = template.Library()

#: "4 December 2026, 16:24 UTC"
WHEN = "j F Y, H:i e"


@register.filter
def when(value):
    """An ISO 8601 time or date (as ``data.json`` holds it) in words, local time; nothing
    for nothing, and anything else as it is."""
    if not value:
        return ""
    if not isinstance(value, str):
        return value
    try:
        moment = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    except ValueError:
        return value
    if isinstance(moment, dt.datetime) and timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date(moment, WHEN)
