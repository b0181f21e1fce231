"""What every detector shares: entity names, the candidate shape, and small checks.

A detector is a function ``(doc) -> iterable of Candidate`` (``Doc`` lives in
``document.py``); candidates carry offsets into the *normalised* text, which
the scanner maps back afterwards.
"""

import math
from collections import Counter
from enum import StrEnum
from typing import NamedTuple


class Entity(StrEnum):
    """Finding types, named as Presidio names them so results can be compared."""

    EMAIL_ADDRESS = "EMAIL_ADDRESS"
    PHONE_NUMBER = "PHONE_NUMBER"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN_CODE = "IBAN_CODE"
    IP_ADDRESS = "IP_ADDRESS"
    URL = "URL"
    CRYPTO = "CRYPTO"
    SECRET = "SECRET"
    PERSON = "PERSON"
    PROTECTED_TERM = "PROTECTED_TERM"
    US_SSN = "US_SSN"
    US_ITIN = "US_ITIN"
    UK_NHS = "UK_NHS"
    UK_NINO = "UK_NINO"
    DE_TAX_ID = "DE_TAX_ID"
    FR_NIR = "FR_NIR"
    NL_BSN = "NL_BSN"
    ES_NIF = "ES_NIF"
    ES_NIE = "ES_NIE"
    IT_FISCAL_CODE = "IT_FISCAL_CODE"
    PL_PESEL = "PL_PESEL"
    IN_AADHAAR = "IN_AADHAAR"
    CA_SIN = "CA_SIN"
    FI_PERSONAL_IDENTITY_CODE = "FI_PERSONAL_IDENTITY_CODE"


NATIONAL_IDS = frozenset(
    {
        Entity.US_SSN,
        Entity.US_ITIN,
        Entity.UK_NHS,
        Entity.UK_NINO,
        Entity.DE_TAX_ID,
        Entity.FR_NIR,
        Entity.NL_BSN,
        Entity.ES_NIF,
        Entity.ES_NIE,
        Entity.IT_FISCAL_CODE,
        Entity.PL_PESEL,
        Entity.IN_AADHAAR,
        Entity.CA_SIN,
        Entity.FI_PERSONAL_IDENTITY_CODE,
    }
)


class Candidate(NamedTuple):
    """A detector's finding, in normalised-text offsets."""

    type: str
    start: int
    end: int
    score: float
    note: str


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def glued(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is part of a longer token.

    That is: letters or digits right beside it, or joined to it by ``. _ - /``,
    as inside a UUID, a version, a path or a product code.
    """
    if start:
        before = text[start - 1]
        if is_word_char(before) or (before in ".-/" and start > 1 and text[start - 2].isalnum()):
            return True
    if end < len(text):
        after = text[end]
        if is_word_char(after) or (after in ".-/" and text[end + 1 : end + 2].isalnum()):
            return True
    return False


def bounded(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is not glued to letters or digits on either side."""
    return (start == 0 or not is_word_char(text[start - 1])) and (
        end == len(text) or not is_word_char(text[end])
    )


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in Counter(value).values())
