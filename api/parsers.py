"""Request bodies as every REST endpoint reads them (REST_FRAMEWORK's default parsers)."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's, with a body nested too deeply for Python's ``json`` a 400 like any other bad
    JSON: ``json`` raises RecursionError there, not the ValueError DRF turns into one."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
