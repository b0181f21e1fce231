"""Contact details and addresses: e-mail, URL, IP address, phone number.

Each detector starts from a cheap anchor (an ``@``, a ``://``, a digit) rather
than trying a pattern at every position of the text: Python's regex engine
only skips ahead quickly when a pattern opens with a literal or a digit class.
"""

import bisect
import ipaddress
import itertools
import re
from collections.abc import Iterator
from functools import cache

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata, PhoneNumber, PhoneNumberMatcher

from governance.scanning.base import Candidate, Entity, bounded, glued, is_word_char
from governance.scanning.document import Doc
from governance.scanning.words import near, register_context, register_triggers

# --- e-mail -------------------------------------------------------------------------------

_LOCAL_REVERSED = re.compile(r"[\w.%+'-]{1,64}")
_DOMAIN = re.compile(r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,63}(?![\w-])")


def find_emails(doc: Doc) -> Iterator[Candidate]:
    """Addresses around each ``@``: a plausible local part, a domain with a letter TLD."""
    text = doc.text
    at = text.find("@")
    while at != -1:
        domain = _DOMAIN.match(text, at + 1)
        if domain:
            local = _LOCAL_REVERSED.match(text[max(0, at - 64) : at][::-1])
            if local:
                start = at - local.end()
                while start < at and text[start] in ".'":
                    start += 1
                if start < at and text[at - 1] != "." and ".." not in text[start:at]:
                    yield Candidate(Entity.EMAIL_ADDRESS, start, domain.end(), 0.95, "address")
        at = text.find("@", at + 1)


# --- URL ------------------------------------------------------------------------------------

_SCHEME_BEFORE = re.compile(r"(?:https?|ftps?|sftp|wss?)\Z", re.IGNORECASE)
_URL_REST = re.compile(r"[^\s<>\"'`{}|\\^]{1,2048}")  # bounded: linear time on any input
_TRAILING = ".,;:!?'\"*"
_OPENERS = {")": "(", "]": "[", "}": "{"}


def _trim_url(text: str, start: int, end: int) -> int:
    """Drop sentence punctuation and unbalanced closing brackets after a URL."""
    balance: dict[str, int] = {}  # closing bracket -> closers minus openers still in the URL
    while end > start:
        last = text[end - 1]
        opener = _OPENERS.get(last)
        if opener and last not in balance:
            balance[last] = text.count(last, start, end) - text.count(opener, start, end)
        if last in _TRAILING or (opener and balance[last] > 0):
            if opener:
                balance[last] -= 1
            end -= 1
        else:
            break
    return end


_URL = register_triggers("url", ["://"])
_WWW = register_triggers("www", ["www."])


def find_urls(doc: Doc) -> Iterator[Candidate]:
    """``scheme://host/...`` and ``www.host/...`` links."""
    if _URL not in doc.triggers and _WWW not in doc.triggers:
        return
    text = doc.text
    sep = text.find("://")
    while sep != -1:
        scheme = _SCHEME_BEFORE.search(text, max(0, sep - 5), sep)
        if scheme and not (scheme.start() and is_word_char(text[scheme.start() - 1])):
            rest = _URL_REST.match(text, sep + 3)
        else:
            rest = None
        if rest:
            end = _trim_url(text, sep + 3, rest.end())
            host = text[sep + 3 : end].split("/", 1)[0].rsplit("@", 1)[-1]
            if "." in host or host.startswith(("localhost", "[")):
                yield Candidate(Entity.URL, scheme.start(), end, 0.5, "link")
                sep = text.find("://", end)
                continue
        sep = text.find("://", sep + 3)
    folded = doc.folded
    www = folded.find("www.")
    while www != -1:
        rest = (www == 0 or text[www - 1] in " \t\n(<[\"'") and _URL_REST.match(text, www)
        if rest:
            end = _trim_url(text, www, rest.end())
            if text.count(".", www + 4, end) >= 1:
                yield Candidate(Entity.URL, www, end, 0.5, "link")
                www = folded.find("www.", end)
                continue
        www = folded.find("www.", www + 4)


# --- IP addresses ---------------------------------------------------------------------------

_IPV4 = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
# Opens with a literal dot, so the engine skips ahead fast; the address starts just before it.
_IPV4_SEED = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")
_IPV6_SEED = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6 = re.compile(
    r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%[0-9A-Za-z]+)?"
)
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")


def _ip_note(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if address.is_private or address.is_loopback or address.is_link_local:
        return f"IPv{address.version}, private range"
    return f"IPv{address.version}"


def find_ipv4(doc: Doc) -> Iterator[Candidate]:
    """Dotted quads that ``ipaddress`` accepts, not part of a longer dotted number."""
    text = doc.text
    pos = 0
    while seed := _IPV4_SEED.search(text, pos):
        start = seed.start()
        while start > 0 and start > seed.start() - 3 and text[start - 1].isdigit():
            start -= 1
        match = _IPV4.match(text, start)
        pos = seed.end()
        if not match or start == seed.start():
            continue
        end = match.end()
        pos = end
        if start and (text[start - 1] == "." or text[start - 1].isalnum()):
            continue
        if end < len(text) and (
            text[end].isalnum() or (text[end] == "." and text[end + 1 : end + 2].isdigit())
        ):
            continue
        try:
            address = ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        yield Candidate(Entity.IP_ADDRESS, start, end, 0.8, _ip_note(address))


def find_ipv6(doc: Doc) -> Iterator[Candidate]:
    """IPv6 addresses, grown outwards from a ``:hex:`` seed and checked by ``ipaddress``."""
    text = doc.text
    if text.count(":") < 2:
        return
    pos = 0
    while seed := _IPV6_SEED.search(text, pos):
        pos = seed.end() - 1  # the next seed may share this one's last colon
        start = seed.start()
        while start > 0 and start > seed.start() - 40 and text[start - 1] in _HEX_COLON:
            start -= 1
        match = _IPV6.match(text, start)
        if not match or match.end() <= seed.start() or not bounded(text, start, match.end()):
            continue
        if start and text[start - 1] in ":.":
            continue
        candidate = match.group()
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        groups = [g for g in re.split(r"[:%.]", candidate.split("%")[0]) if g]
        # "a::b" or "de::ad" are valid addresses but far more often code or prose.
        if len(groups) < 2 or not any(c.isdigit() for c in candidate):
            continue
        if len(groups) < 4 and max(len(g) for g in groups) < 3:
            continue
        pos = max(pos, match.end())
        yield Candidate(Entity.IP_ADDRESS, start, match.end(), 0.8, _ip_note(address))


# --- phone numbers --------------------------------------------------------------------------

# A stretch of digits with the separators phone numbers are written with; at least 7 digits.
# Over Doc.shape, and only from the start of a stretch (see base._DIGIT_RUN).
_PHONE_SEED = re.compile(r"9(?<!99)(?<!9[ ()\-./]9)[9 ()\-./]{4,24}9")
# Shapes that the phone matcher may accept in some region but that are something else:
# dates (2024-03-15, 15.03.2024, 03/15/2024) and SSN-shaped numbers (078-05-1120).
_NOT_PHONE = re.compile(
    r"[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2[0-9]{2,4}"
    r"|[0-9]{3}-[0-9]{2}-[0-9]{4}"
)
_PHONE_WORDS = (
    "phone", "tel", "telephone", "call", "mobile", "cell", "fax", "whatsapp", "sms", "text",
    "number", "contact", "reach", "ring", "dial", "mob", "ph", "telefon", "handy", "portable",
)  # fmt: skip
_PHONE_CONTEXT = register_context("phone context", _PHONE_WORDS)


@cache
def _national_prefix(region: str) -> str:
    metadata = PhoneMetadata.metadata_for_region(region)
    return (metadata.national_prefix or "") if metadata else ""


def _plausible(raw: str, region: str) -> bool:
    """Whether a number written this way can be national in ``region``.

    A leading 0 is a trunk prefix in most of Europe and never starts a number
    in the North American plan; without it, a European number is incomplete.
    """
    if raw.startswith("+"):
        return True
    prefix = _national_prefix(region)
    return prefix in ("", "0") if raw.lstrip("(").startswith("0") else prefix != "0"


@cache
def _parsing_rule(region: str) -> tuple:
    """Regions with the same trunk-prefix rule parse a national number the same way."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return (region,)
    return (metadata.national_prefix_for_parsing, metadata.national_prefix_transform_rule)


def _valid_region(raw: str, regions: tuple[str, ...]) -> str | None:
    """The first region in which ``raw`` is a valid number, if any.

    A matcher run that finds nothing costs 50-900 µs, so the matcher runs only
    for the region that will find something. To learn which, ``raw`` is parsed
    once per trunk-prefix rule (GB, DE and FR share one) and the national
    number checked against each region, at a few microseconds a check.
    """
    if raw.startswith("+"):
        return regions[0] if regions else None  # the number names its own country
    regions = tuple(region for region in regions if _plausible(raw, region))
    if len(regions) == 1:
        return regions[0]  # no choice to make: the matcher alone decides
    parsed: dict[tuple, tuple[PhoneNumber, int] | None] = {}
    for region in regions:
        rule = _parsing_rule(region)
        if rule not in parsed:
            try:
                number = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                parsed[rule] = None
            else:
                parsed[rule] = (number, phonenumbers.country_code_for_region(region))
        if parsed[rule] is None:
            continue
        number, parsed_as = parsed[rule]
        code = phonenumbers.country_code_for_region(region)
        if number.country_code == parsed_as and code != parsed_as:
            # Read as a national number: the same digits, this region's country code.
            number = PhoneNumber(
                country_code=code,
                national_number=number.national_number,
                italian_leading_zero=number.italian_leading_zero,
                number_of_leading_zeros=number.number_of_leading_zeros,
            )
        if phonenumbers.is_valid_number(number):
            return region
    return None


def _in_numbering_plan(number: PhoneNumber) -> bool:
    """Whether a number has a length and leading digits its country's plan allows.

    Looser than ``is_valid_number``, which also wants the range allocated to a
    carrier: numbers in newly opened ranges, and the UK's 07700 900xxx kept for
    examples (the first number people try), are valid only by this test.
    """
    region = phonenumbers.region_code_for_country_code(number.country_code)
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return False
    pattern = metadata.general_desc.national_number_pattern
    national = phonenumbers.national_significant_number(number)
    return bool(pattern and re.fullmatch(pattern, national))


_BLOB_AFTER = re.compile(r"[ ()\-./]?9")  # over Doc.shape
_BLOB_BEFORE = re.compile(r"9[ ()\-./]?\Z")


def _containment(spans: list[tuple[int, int]]):
    """A test of whether ``[start, end)`` lies inside any of ``spans``, by bisection."""
    spans = sorted(spans)
    starts = [s for s, _ in spans]
    reach = list(itertools.accumulate((e for _, e in spans), max))  # furthest end so far

    def inside(start: int, end: int) -> bool:
        i = bisect.bisect_right(starts, start)
        return i > 0 and reach[i - 1] >= end

    return inside


def find_phones(doc: Doc, taken: list[tuple[int, int]]) -> Iterator[Candidate]:
    """Phone numbers that ``phonenumbers`` judges valid, near each digit stretch.

    ``taken`` holds spans already claimed by validated identifiers (cards, IBANs),
    which are not asked about again. A bare run of digits (no ``+``, no
    separators) counts only beside a word like "phone" or "call": on its own it
    is more often an order or account number.
    """
    text, shape = doc.text, doc.shape
    inside_taken = _containment(taken)
    for seed in _PHONE_SEED.finditer(shape):
        start, end = seed.span()
        if shape.count("9", start, end) < 7 or glued(text, start, end):
            continue
        if _BLOB_AFTER.match(shape, end) or _BLOB_BEFORE.search(shape, max(0, start - 2), start):
            continue  # part of a longer stretch of numbers (a table, a list of IDs)
        if _NOT_PHONE.fullmatch(text, start, end) or inside_taken(start, end):
            continue
        while start > 0 and text[start - 1] in "+(":
            start -= 1
        raw = text[start:end]
        if text[end : end + 1] == ":" and text[end + 1 : end + 2].isdigit() and raw[0] != "+":
            # A date and the hour of a time ("2024-03-15 10:30"); never one written with
            # its country's "+", which ":1" after it would otherwise hide.
            continue
        context = None
        if raw.isdigit():
            context = near(doc, _PHONE_CONTEXT, start, end)
            if not context:
                continue
        region = _valid_region(raw, doc.phone_regions)
        if region is None:
            continue
        lo, hi = max(0, start - 4), min(len(text), end + 2)
        matches = [
            m
            for m in PhoneNumberMatcher(text[lo:hi], region, leniency=Leniency.VALID)
            if lo + m.start < end and lo + m.end > start
        ]
        if not matches and raw.startswith("+"):
            # Written in international form, the number names its country: a
            # number that fits that country's plan is a phone number even when
            # its range is not (yet) allocated. Only here, because the looser
            # test costs a second matcher run.
            matches = [
                m
                for m in PhoneNumberMatcher(text[lo:hi], region, leniency=Leniency.POSSIBLE)
                if lo + m.start < end and lo + m.end > start and _in_numbering_plan(m.number)
            ]
        if matches and context is None:
            context = near(doc, _PHONE_CONTEXT, start, end)
        for m in matches:
            # The country's main region: exact per-region lookup costs ~15 µs for +1.
            where = phonenumbers.region_code_for_country_code(m.number.country_code)
            score = 0.85 if context else 0.75
            yield Candidate(Entity.PHONE_NUMBER, lo + m.start, lo + m.end, score, where)
