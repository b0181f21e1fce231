"""Money identifiers: payment cards, IBANs, crypto-currency addresses.

Every one of them carries a checksum; a candidate that fails it is not reported.
"""

import functools
import itertools
import operator
import re
from collections.abc import Iterator

from Crypto.Hash import keccak
from stdnum import bitcoin, iban, luhn

from governance.scanning.base import Candidate, Entity, bounded
from governance.scanning.document import Doc, digit_runs
from governance.scanning.words import near, register_context

# --- payment cards --------------------------------------------------------------------------


def card_brand(digits: str) -> str | None:
    """The card network whose number ranges and lengths fit ``digits``, if any."""
    n, p2, p3, p4 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4" and n in (13, 16, 19):
        return "Visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "Mastercard"
    if p2 in (34, 37) and n == 15:
        return "American Express"
    if 16 <= n <= 19 and (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65):
        return "Discover"
    if 16 <= n <= 19 and 3528 <= p4 <= 3589:
        return "JCB"
    if 14 <= n <= 19 and (300 <= p3 <= 305 or p2 in (36, 38, 39)):
        return "Diners Club"
    if 16 <= n <= 19 and p2 == 62:
        return "UnionPay"
    if p2 in (50, 56, 57, 58, 63, 67):
        return "Maestro"
    return None


def _card_grouping(lengths: list[int]) -> bool:
    """Whether digit groups look like a card written out: 4-4-4-4, 4-6-5, one block, or spaced."""
    if len(lengths) == 1:
        return True
    head, last = lengths[:-1], lengths[-1]
    if all(n == head[0] for n in head) and last <= head[0]:
        return True  # 4-4-4-4, 4-4-4-4-3, and d-i-g-i-t-by-digit obfuscation
    return lengths in ([4, 6, 5], [4, 6, 4])


def _card(digits: str) -> str | None:
    if not 13 <= len(digits) <= 19 or digits.count(digits[0]) == len(digits):
        return None
    brand = card_brand(digits)
    return brand if brand and luhn.is_valid(digits) else None


_CARD_CONTEXT = register_context(
    "card context",
    ["card", "cards", "credit", "debit", "visa", "mastercard", "amex", "cc", "pan", "payment"],
)
# An unformatted number right after these words is a reference, not a card, unless a
# card word is near too: a tenth of 16-digit order numbers pass Luhn by chance.
_REFERENCE_CONTEXT = register_context(
    "reference context",
    ["order", "invoice", "ticket", "ref", "reference", "tracking", "shipment", "po", "case",
     "booking", "transaction", "txn", "id", "sku", "serial", "account", "acct"],
)  # fmt: skip


def _reference_number(doc: Doc, start: int, end: int) -> bool:
    return near(doc, _REFERENCE_CONTEXT, start, end, before=24, after=0) and not near(
        doc, _CARD_CONTEXT, start, end
    )


def find_cards(doc: Doc) -> Iterator[Candidate]:
    """Payment card numbers: a known network's range and length, and the Luhn check.

    A run of groups may hold more than the card ("card 4111 1111 1111 1111 2027"),
    so when the whole run fails, consecutive groups inside it are tried too. A
    bare block of digits right after "order" or "invoice" is not taken for a card.
    """
    text = doc.text
    for run in digit_runs(doc):
        groups = run.groups
        lengths = [e - s for s, e in groups]
        # More groups than any card has digits: a table of numbers, not a card (and
        # trying every window in it would cost time quadratic in its length).
        if sum(lengths) < 13 or len(groups) > 24:
            continue
        i = 0
        while i < len(groups):
            found = False
            total = 0
            for j in range(i, len(groups)):
                total += lengths[j]
                if total > 19:
                    break
                if total < 13 or not _card_grouping(lengths[i : j + 1]):
                    continue
                start, end = groups[i][0], groups[j][1]
                brand = _card("".join(text[s:e] for s, e in groups[i : j + 1]))
                if brand and i == j and _reference_number(doc, start, end):
                    brand = None
                if brand:
                    yield Candidate(Entity.CREDIT_CARD, start, end, 0.95, f"{brand}, Luhn")
                    i, found = j + 1, True
                    break
            if not found:
                i += 1


# --- IBAN -----------------------------------------------------------------------------------

_SEPARATOR = re.compile(r"[ \-]")
# Over Doc.shape: upper case as written, or all lower case (each opens with a literal).
_IBAN_SHAPES = (
    re.compile(r"AA99(?:[ \-]?[A9]){10,32}"),
    re.compile(r"aa99(?:[ \-]?[a9]){10,32}"),
)


_IBAN_DIGITS = str.maketrans({c: str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"})


def _iban_mod97(compact: str) -> bool:
    """ISO 13616's check: country and check digits moved to the end, letters as 10..35."""
    return int((compact[4:] + compact[:4]).translate(_IBAN_DIGITS)) % 97 == 1


def find_ibans(doc: Doc) -> Iterator[Candidate]:
    """IBANs that pass python-stdnum's check (country length, format and mod-97).

    Written in capitals or all in lower case. The pattern may run on into
    following capitals ("... 00 IS MINE"), so the candidate is cut back group
    by group until a valid IBAN remains.
    """
    if not doc.has_digit:
        return
    text = doc.text
    shapes = _IBAN_SHAPES if "aa99" in doc.shape else _IBAN_SHAPES[:1]  # lower case is rare
    for match in itertools.chain(*(shape.finditer(doc.shape) for shape in shapes)):
        start = match.start()
        if start and text[start - 1].isalnum():
            continue
        # Cut points: the end of every group (before a separator) and the match end.
        cuts = [m.start() for m in _SEPARATOR.finditer(match.group())] + [len(match.group())]
        for cut in reversed(cuts):
            end = start + cut
            if end - start < 15 or not bounded(text, start, end):
                continue
            compact = _SEPARATOR.sub("", text[start:end]).upper()
            # The mod-97 check first: python-stdnum's full check costs ten times as much.
            if _iban_mod97(compact) and iban.is_valid(compact):
                yield Candidate(Entity.IBAN_CODE, start, end, 1.0, "IBAN check digits")
                break


# --- crypto-currency addresses --------------------------------------------------------------

_BASE58_SHAPE = re.compile(r"9(?<![9Aa]9)[9Aa]{25,34}")  # over Doc.shape, at a token start
_BASE58 = re.compile(r"[13][1-9A-HJ-NP-Za-km-z]{25,34}")
_BECH32 = re.compile(r"bc1[02-9ac-hj-np-z]{8,87}")
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONSTANT = 0x2BC830A3
_ETHEREUM = re.compile(r"0x[0-9a-fA-F]{40}")


# BIP-173's checksum generator, folded into a table over the five bits shifted out at each
# step: the same arithmetic as python-stdnum's bech32_checksum, about eight times faster.
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_POLYMOD = tuple(
    functools.reduce(operator.xor, (g for i, g in enumerate(_GENERATOR) if top >> i & 1), 0)
    for top in range(32)
)
_BC_HRP = (3, 3, 0, 2, 3)  # "bc" expanded as BIP-173 says: high bits, 0, low bits


def _bech32_polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        checksum = ((checksum & 0x1FFFFFF) << 5 ^ value) ^ _POLYMOD[checksum >> 25]
    return checksum


def _segwit_note(address: str) -> str | None:
    """Check a ``bc1`` address: bech32 for witness v0, bech32m (BIP-350) for later versions."""
    data = [_BECH32_CHARSET.index(c) for c in address[3:]]
    checksum = _bech32_polymod([*_BC_HRP, *data])
    version = data[0]
    if version == 0 and checksum != 1 or version > 0 and checksum != _BECH32M_CONSTANT:
        return None
    try:
        program = bitcoin.b32decode(data[1:-6])
    except Exception:  # stdnum raises its own ValidationError subclasses
        return None
    if version > 16 or not 2 <= len(program) <= 40 or version == 0 and len(program) not in (20, 32):
        return None
    return "Bitcoin, bech32" if version == 0 else "Bitcoin, bech32m"


def eip55_valid(address: str) -> bool:
    """EIP-55: a hex letter is upper case exactly when its Keccak-256 nibble is 8 or more."""
    body = address[2:]
    digest = keccak.new(digest_bits=256, data=body.lower().encode()).hexdigest()
    return all(
        c.isdigit() or (c.isupper() == (int(h, 16) >= 8))
        for c, h in zip(body, digest, strict=False)
    )


def find_crypto(doc: Doc) -> Iterator[Candidate]:
    """Bitcoin (base58check, bech32, bech32m) and Ethereum addresses, checksums verified."""
    text = doc.text
    if doc.has_digit:
        for match in _BASE58_SHAPE.finditer(doc.shape):
            start, end = match.span()
            if (
                text[start] in "13"
                and bounded(text, start, end)
                and _BASE58.fullmatch(text, start, end)
                and bitcoin.is_valid(text[start:end])
            ):
                yield Candidate(Entity.CRYPTO, start, end, 1.0, "Bitcoin, base58check")
    folded = doc.folded
    if "bc1" in folded:
        for match in _BECH32.finditer(folded):
            original = text[match.start() : match.end()]
            if not bounded(text, *match.span()) or not (original.islower() or original.isupper()):
                continue
            note = _segwit_note(match.group())
            if note:
                yield Candidate(Entity.CRYPTO, *match.span(), 1.0, note)
    if "0x" in text:
        for match in _ETHEREUM.finditer(text):
            if not bounded(text, *match.span()):
                continue
            body = match.group()[2:]
            if body.islower() or body.isupper() or body.isdigit():
                yield Candidate(Entity.CRYPTO, *match.span(), 0.8, "Ethereum, no checksum case")
            elif eip55_valid(match.group()):
                yield Candidate(Entity.CRYPTO, *match.span(), 1.0, "Ethereum, EIP-55")
