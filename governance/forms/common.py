"""Small checks the governance forms and views share: public ids, lists, selects and
on/off buttons."""

import uuid

from django import forms


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID's text (a public id typed or sent)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def is_list_of_strings(value) -> bool:
    """Whether ``value`` (from JSON or YAML) is a list of strings; an empty one is a choice:
    none, or any."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _name_empty_choice(field: forms.ChoiceField, prompt: str) -> None:
    """Say what to choose where Django's select would open on "---------"."""
    field.choices = [("", prompt), *((v, label) for v, label in field.choices if v != "")]


#: What an on/off button posts.
SWITCH_VALUES = {"1": True, "0": False}


def switch_value(data, name: str) -> bool | None:
    """An on/off button's value: "1" is on, "0" off; None for anything else, or nothing,
    which the view refuses (rather than reading it as off, which would switch things off)."""
    return SWITCH_VALUES.get(data.get(name))


def switch_refusal(name: str) -> str:
    return f"“{name}” takes 1 (on) or 0 (off). Nothing was changed."
