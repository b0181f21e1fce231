"""The auditor's filters in words, for the printed trail: on paper the filter form is gone,
and a list of events must still say which events it holds."""

import datetime as dt

from django import forms
from django.utils.formats import date_format

from audit.filters import EventFilter
from governance.policy import in_a_sentence

DATE_FIELDS = ("since", "until")


def filters_in_words(filters: EventFilter, *, before: int | None = None) -> str:
    """ "Filtered: from 1 Dec 2026 to 5 Dec 2026; action Chat request; outcome Blocked." or
    "All events.", each filter by its label and value as the form shows them; ``before``, a
    page of older events, says where it starts. Empty when the filters can't be applied."""
    if filters.is_bound and not filters.is_valid():
        return ""
    data = filters.cleaned_data if filters.is_bound else {}
    parts = [_days_in_words(data.get("since"), data.get("until"))]
    for name, field in filters.fields.items():
        if name not in DATE_FIELDS and data.get(name):
            label = in_a_sentence(filters[name].label)
            parts.append(f"{label} {_value_in_words(field, data[name])}")
    parts = [part for part in parts if part]
    starts = [f"older than #{before}"] if before is not None else []
    if not parts:
        return " ".join(["All events", *starts]) + "."
    return "Filtered: " + "; ".join([*parts, *starts]) + "."


def _days_in_words(since: dt.date | None, until: dt.date | None) -> str:
    if since and until:
        return f"on {_day(since)}" if since == until else f"from {_day(since)} to {_day(until)}"
    if since:
        return f"from {_day(since)}"
    return f"up to {_day(until)}" if until else ""


def _day(day: dt.date) -> str:
    return date_format(day, "j M Y")


def _value_in_words(field: forms.Field, value) -> str:
    """A choice by the name the select shows for it; anything typed as it was cleaned."""
    if isinstance(field, forms.ChoiceField):
        return str(dict(field.choices).get(value, value))
    return str(value)
