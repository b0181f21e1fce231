"""Stable placeholders for what the policy says to replace, and putting the values back.

Within a conversation the same value always gets the same placeholder
(``[EMAIL_1]`` is one address every time it appears), so the model can reason
about "the same person" without ever seeing who. The mapping is stored sealed
with the conversation; only the author's pages and exports restore it.

Mapping shape (JSON)::

    {"values": {"[EMAIL_1]": "ann@example.com"},
     "keys": {"EMAIL:ann@example.com": "[EMAIL_1]"},
     "counters": {"EMAIL": 1}}
"""

import re
from collections import Counter
from collections.abc import Iterable

import phonenumbers

from governance.policy import Span, entity_name
from governance.scanning import DEFAULT_PHONE_REGIONS

LABELS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP",
    "URL": "LINK",
    "CRYPTO": "WALLET",
    "SECRET": "SECRET",
    "PERSON": "PERSON",
    "PROTECTED_TERM": "TERM",
    "RULE": "REDACTED",
}
NATIONAL_ID_LABEL = "ID"
PLACEHOLDER = re.compile(r"\[([A-Z]+)_(\d{1,5})\]")


def label_for(kind: str) -> str:
    return LABELS.get(kind, NATIONAL_ID_LABEL)


_NAMES = {
    **{label: entity_name(kind) for kind, label in LABELS.items()},
    "REDACTED": "redacted",
    NATIONAL_ID_LABEL: entity_name("national id"),
}


def named(text: str) -> str:
    """``text`` with each placeholder naming what it stands for: "[EMAIL_1]" → "[email
    address]" (the same words for every address; where the value must not show)."""
    return PLACEHOLDER.sub(lambda m: f"[{_NAMES.get(m.group(1)) or m.group(0)[1:-1]}]", text)


def canonical(kind: str, value: str) -> str:
    """One spelling per identifier, so "Ann@Example.com" and "ann@example.com" are one person.

    Used for placeholders and for the subject index, where a privacy officer's
    look-up must reach the same form from what they type.
    """
    value = value.strip()
    if kind == "EMAIL_ADDRESS":
        return value.casefold()
    if kind == "PHONE_NUMBER":
        return _phone(value)
    if kind in ("PERSON", "PROTECTED_TERM", "RULE", "URL", "SECRET"):
        return " ".join(value.casefold().split())
    # Cards, IBANs, IP addresses, wallets and national identifiers: separators do not count.
    return re.sub(r"[\s\-.]", "", value).upper()


def _phone(value: str) -> str:
    for region in (None, *DEFAULT_PHONE_REGIONS):
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return re.sub(r"\D", "", value)


class Pseudonymiser:
    """Applies and restores one conversation's placeholders; ``mapping`` is updated in place."""

    def __init__(self, mapping: dict | None = None):
        self.mapping = mapping or {}
        self.mapping.setdefault("values", {})
        self.mapping.setdefault("keys", {})
        self.mapping.setdefault("counters", {})
        self.changed = False

    def placeholder(self, kind: str, value: str) -> str:
        label = label_for(kind)
        key = f"{label}:{canonical(kind, value)}"
        existing = self.mapping["keys"].get(key)
        if existing:
            return existing
        number = self.mapping["counters"].get(label, 0) + 1
        self.mapping["counters"][label] = number
        placeholder = f"[{label}_{number}]"
        self.mapping["keys"][key] = placeholder
        self.mapping["values"][placeholder] = value
        self.changed = True
        return placeholder

    def apply(self, text: str, spans: Iterable[Span]) -> tuple[str, Counter]:
        """``text`` with each span replaced by its placeholder; and the count per type."""
        parts = []
        replaced: Counter = Counter()
        position = 0
        for span in sorted(spans, key=lambda s: s.start):
            if span.start < position:
                continue  # spans come merged; this is only a guard
            parts.append(text[position : span.start])
            parts.append(self.placeholder(span.type, text[span.start : span.end]))
            replaced[span.type] += 1
            position = span.end
        parts.append(text[position:])
        return "".join(parts), replaced

    def restore(self, text: str) -> str:
        """Placeholders back to the values they stand for; unknown ones stay as they are."""
        values = self.mapping["values"]
        if not values or "[" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), text)

    def values(self) -> dict[str, str]:
        return dict(self.mapping["values"])
