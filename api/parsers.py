"""Request bodies as every REST endpoint reads them (REST_FRAMEWORK's default parsers), and
the check /v1 shares: text that no database takes; and the REST writes' refusal of a field
they do not know."""

from collections.abc import Iterable, Mapping

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

BROKEN_TEXT = (
    "The request holds text that is not whole Unicode: half of a character (a lone "
    "surrogate, e.g. an emoji cut in two) or a NUL character."
)


class JSONParser(parsers.JSONParser):
    """DRF's, with a body nested too deeply for Python's ``json`` a 400 like any other bad
    JSON (``json`` raises RecursionError there, not the ValueError DRF turns into one), and
    one holding text no database takes (:func:`holds_broken_text`) a 400 too."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        if holds_broken_text(data):
            raise ParseError(BROKEN_TEXT)
        return data


def holds_broken_text(value) -> bool:
    """Whether a string in ``value`` (a JSON document) is one no database takes: with a NUL,
    or a lone surrogate (valid JSON, ``"\\ud83d"``, but no UTF-8 encodes it)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item or not item.isascii() and not _encodes(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


UNKNOWN_FIELD = "Unknown field."
#: What a browser's form adds to a body (the browsable API's forms post it).
NOT_FIELDS = frozenset({"csrfmiddlewaretoken"})


def refuse_unknown_fields(data, known: Iterable[str]) -> None:
    """A 400 naming each field of the body that the endpoint does not know.

    DRF skips such fields, so a misspelt one (``"retention"`` for ``retention_days``)
    answered 200 and changed nothing. The fields an endpoint shows are known too, so a
    PUT may send back what a GET showed.
    """
    if not isinstance(data, Mapping):
        return
    unknown = set(data) - set(known) - NOT_FIELDS
    if unknown:
        raise ValidationError({name: [UNKNOWN_FIELD] for name in sorted(unknown)})
