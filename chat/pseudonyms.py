"""Stable placeholders for what the policy says to replace, and putting the values back.

Within a conversation the same value always gets the same placeholder
(``[EMAIL_1]`` is one address every time it appears), so the model can reason
about "the same person" without ever seeing who. The mapping is stored sealed
with the conversation; only the author's pages and exports restore it.

A placeholder the author typed themselves (a pasted template's "[EMAIL_1]") is a
literal, and stays theirs: no value is ever given its name, so what the model writes
back of it is never "restored" into a real value. It goes to the model as written while
its name is free, and new placeholders are numbered past it. If the conversation already
gave its name to a value (the literal is typed in a later turn), the model could not
tell the two apart: the literal goes under a name of its own, which is put back as the
literal. Either way the author reads what they typed, and the model gets no real value.
A literal keeps its name for the rest of the conversation, as a value does.

A placeholder the model made up (a draft's "[EMAIL_1]" before the conversation gave that
name to any address) is kept as a literal too, once its answer is stored
(:meth:`Pseudonymiser.keep_invented`): the next address typed would otherwise take its name,
and the old answer read as if the model had written that real address.

Mapping shape (JSON)::

    {"values": {"[EMAIL_2]": "ann@example.com", "[EMAIL_3]": "[EMAIL_2]"},
     "keys": {"EMAIL:ann@example.com": "[EMAIL_2]",
              "literal:[EMAIL_1]": "[EMAIL_1]", "literal:[EMAIL_2]": "[EMAIL_3]"},
     "counters": {"EMAIL": 3}}

("[EMAIL_1]" and then "[EMAIL_2]" typed by the author, ann@example.com between them.)
"""

import re
from collections import Counter
from collections.abc import Iterable

import phonenumbers

from governance.policy import Span, entity_name
from governance.scanning import DEFAULT_PHONE_REGIONS
from governance.scanning.normalise import normalise

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
#: Placeholders an answer made up that are kept as literals, at most (see keep_invented).
MAX_INVENTED_KEPT = 50
#: The labels of the placeholders Steward gives: only a literal of one can be taken for one.
GIVEN_LABELS = frozenset({*LABELS.values(), NATIONAL_ID_LABEL})


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
    look-up must reach the same form from what they type. Read as the detector reads it
    (NFKC, invisible characters gone, any script's digits ASCII): "ｊａｎｅ＠…" typed
    full-width, or a name split by a zero-width space, is the same person; accents count.
    """
    value = normalise(value).text.strip()
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
        return self.mapping["keys"].get(key) or self._new(key, label, value)

    def _new(self, key: str, label: str, value: str) -> str:
        """The next free placeholder of ``label``, given to ``value`` under ``key``."""
        number = self.mapping["counters"].get(label, 0) + 1
        while self._taken(f"[{label}_{number}]"):
            number += 1
        self.mapping["counters"][label] = number
        placeholder = f"[{label}_{number}]"
        self.mapping["keys"][key] = placeholder
        self.mapping["values"][placeholder] = value
        self.changed = True
        return placeholder

    def _literal(self, typed: str) -> str:
        """What a placeholder the author typed goes to the model as (see the module's
        docstring): itself while no value has its name, else a name of its own."""
        key = f"literal:{typed}"
        keys = self.mapping["keys"]
        if key in keys:
            return keys[key]
        if self._taken(typed):
            return self._new(key, PLACEHOLDER.fullmatch(typed)[1], typed)
        keys[key] = typed  # kept: no value gets this name
        self.changed = True
        return typed

    def _taken(self, name: str) -> bool:
        """Whether ``name`` is given to a value (a literal's own name included), or kept
        by the literal of that name."""
        return name in self.mapping["values"] or f"literal:{name}" in self.mapping["keys"]

    def keep_invented(self, answer: str) -> bool:
        """Keep each placeholder ``answer`` names that the conversation never gave as a
        literal of that name, so no value is ever given it, up to
        :data:`MAX_INVENTED_KEPT` an answer (one that writes thousands is no letter, and
        each would grow the mapping every page and message opens); whether any was new."""
        kept = 0
        for found in PLACEHOLDER.finditer(answer):
            name = found[0]
            if found[1] in GIVEN_LABELS and not self._taken(name):
                self.mapping["keys"][f"literal:{name}"] = name
                self.changed = True
                kept += 1
                if kept == MAX_INVENTED_KEPT:
                    break
        return kept > 0

    def _literals_as_sent(self, written: str) -> str:
        if "[" not in written:
            return written
        return PLACEHOLDER.sub(
            lambda m: self._literal(m[0]) if m[1] in GIVEN_LABELS else m[0], written
        )

    def apply(self, text: str, spans: Iterable[Span]) -> tuple[str, Counter]:
        """``text`` with each span replaced by its placeholder, and the placeholders the
        author typed as they go (:meth:`_literal`); and the count per type replaced."""
        pieces: list[str | Span] = []  # what is kept as written, and the spans between
        position = 0
        for span in sorted(spans, key=lambda s: s.start):
            if span.start < position:
                continue  # spans come merged; this is only a guard
            pieces += [text[position : span.start], span]
            position = span.end
        pieces.append(text[position:])
        # The literals first, wherever they are: each keeps its own name if it can.
        for piece in pieces:
            if isinstance(piece, str):
                self._literals_as_sent(piece)
        parts = []
        replaced: Counter = Counter()
        for piece in pieces:
            if isinstance(piece, str):
                parts.append(self._literals_as_sent(piece))
            else:
                parts.append(self.placeholder(piece.type, text[piece.start : piece.end]))
                replaced[piece.type] += 1
        return "".join(parts), replaced

    def restore(self, text: str) -> str:
        """Placeholders back to the values they stand for; unknown ones stay as they are."""
        values = self.mapping["values"]
        if not values or "[" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), text)

    def values(self) -> dict[str, str]:
        return dict(self.mapping["values"])
