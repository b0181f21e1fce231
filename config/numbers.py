"""Whole numbers read from what a client sent (a query string, a header)."""

#: More digits than any count or id here has; int() refuses past about 4,300 digits.
MAX_DIGITS = 18


def whole_number(text: str) -> int | None:
    """``text`` as a whole number from 0, or None when it is not one: ASCII digits only
    ("²".isdigit() is true, and int() refuses it), at most :data:`MAX_DIGITS` of them."""
    if 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None
