"""Unicode folding before detection, with an offset map back to the original text.

Detectors run on the normalised text; every finding is mapped back through
:meth:`Normalised.span`, so offsets always point into what the user typed.
"""

import re
import unicodedata
from bisect import bisect_right

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties): invisible characters that
# split identifiers ("jane\u200b@example.com"), reorder them (bidi controls) or smuggle
# text past a reader (tag characters).
IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_VISIBLE_RUN = re.compile("[^" + IGNORABLE.pattern[1:] + "+")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_WHITESPACE = re.compile(r"\s+")


class _DigitTable(dict):
    """``str.translate`` table: any Unicode decimal digit becomes its ASCII digit.

    NFKC folds full-width digits but leaves other scripts' digits (Arabic-Indic,
    Devanagari) alone; validators need ASCII. Entries are computed on first sight.
    """

    def __missing__(self, code: int) -> int:
        value = unicodedata.decimal(chr(code), None)
        result = 0x30 + value if value is not None else code
        self[code] = result
        return result


class _FoldTable(dict):
    """``str.translate`` table for matching: lower case, no accents, one kind of space.

    Every character maps to exactly one character, so folded text keeps the
    offsets of the text it was folded from.
    """

    def __missing__(self, code: int) -> int:
        char = chr(code)
        if char.isspace():
            folded = " "
        else:
            base = unicodedata.normalize("NFD", char)[0]
            lower = base.lower()
            folded = lower if len(lower) == 1 else base
        self[code] = ord(folded)
        return self[code]


_DIGITS = _DigitTable()
_FOLD = _FoldTable()
_ASCII = bytes(range(128))
# ASCII text takes the bytes.translate path: about ten times faster than str.translate.
_FOLD_ASCII = bytes.maketrans(
    _ASCII, _ASCII.lower().translate(bytes.maketrans(b"\t\n\v\f\r\x1c\x1d\x1e\x1f", b"         "))
)
_SHAPE_ASCII = bytes.maketrans(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    b"9" * 10 + b"A" * 26 + b"a" * 26,
)


def fold(text: str) -> str:
    """Lower-case ``text``, drop accents and turn every space into ``" "``, keeping its length."""
    if text.isascii():
        return text.encode("ascii").translate(_FOLD_ASCII).decode("ascii")
    return text.translate(_FOLD)


def shape(text: str) -> str:
    """``text`` with ASCII digits as ``9``, capitals ``A``, small letters ``a``, non-ASCII ``?``.

    Same length, same offsets. Patterns over the shape open with a literal
    (``AA99`` for an IBAN), which Python's regex engine finds far faster than a
    character class, and the real text is checked only where the shape fits.
    """
    # Every other character becomes "?": one byte each, so offsets still line up.
    return text.encode("ascii", "replace").translate(_SHAPE_ASCII).decode("ascii")


def fold_term(term: str) -> str:
    """The matching key of a protected term: normalised, folded, single-spaced."""
    return _WHITESPACE.sub(" ", fold(normalise(term).text)).strip()


class Normalised:
    """NFKC text without invisible characters, and the way back to the original offsets.

    The map is a list of pieces. A *linear* piece maps character for character
    (plain ASCII, letters NFKC leaves alone, full-width digits); any other piece
    (a ligature that became two letters, a sequence that composed into one) maps
    as a whole, so a finding that touches it covers all of it in the original.
    """

    __slots__ = ("original", "text", "stripped", "_norm", "_orig", "_norm_len", "_orig_len")

    def __init__(self, original: str, text: str, stripped: int, pieces: list | None) -> None:
        self.original = original
        self.text = text
        #: how many invisible characters were removed (a sign of deliberate obfuscation)
        self.stripped = stripped
        if pieces is None:
            self._norm = None
        else:
            self._norm, self._orig, self._norm_len, self._orig_len = (list(x) for x in zip(*pieces))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` in the normalised text to the original text."""
        if self._norm is None or start >= end:
            return start, end
        return self._original_start(start), self._original_end(end)

    def _original_start(self, index: int) -> int:
        k = bisect_right(self._norm, index) - 1
        if self._norm_len[k] == self._orig_len[k]:
            return self._orig[k] + index - self._norm[k]
        return self._orig[k]

    def _original_end(self, end: int) -> int:
        k = bisect_right(self._norm, end - 1) - 1
        if self._norm_len[k] == self._orig_len[k]:
            return self._orig[k] + end - self._norm[k]
        return self._orig[k] + self._orig_len[k]


class _Builder:
    """Collects output text and map pieces, merging contiguous linear pieces."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pieces: list[list[int]] = []  # [norm_start, orig_start, norm_len, orig_len]
        self.norm_pos = 0
        self.stripped = 0
        self.foreign_digits = False  # digits of other scripts, to fold to ASCII at the end

    def add(self, out: str, orig_start: int, orig_len: int) -> None:
        if not out:
            return
        n = len(out)
        last = self.pieces[-1] if self.pieces else None
        if (
            n == orig_len
            and last is not None
            and last[2] == last[3]
            and last[1] + last[3] == orig_start
        ):
            last[2] += n
            last[3] += n
        else:
            self.pieces.append([self.norm_pos, orig_start, n, orig_len])
        self.parts.append(out)
        self.norm_pos += n

    def add_segment(self, segment: str, orig_start: int) -> None:
        """Normalise a stretch holding non-ASCII characters (plus the ASCII one before it)."""
        kept = IGNORABLE.sub("", segment)
        if len(kept) == len(segment) and unicodedata.is_normalized("NFKC", segment):
            self.add(segment, orig_start, len(segment))
            self.foreign_digits = self.foreign_digits or bool(_ANY_DIGIT.search(segment))
            return
        self.stripped += len(segment) - len(kept)
        outputs = [_nfkc_char(char) for char in segment]
        whole = IGNORABLE.sub("", unicodedata.normalize("NFKC", kept))
        if not whole.isascii():
            self.foreign_digits = self.foreign_digits or bool(_ANY_DIGIT.search(whole))
        if "".join(outputs) != whole:
            # Characters combined across each other (e.g. a letter and a combining
            # accent): the segment maps as one piece.
            self.add(whole, orig_start, len(segment))
        elif max(map(len, outputs)) <= 1:
            # The usual obfuscation (full-width forms, invisible characters between
            # visible ones): one linear piece per stretch of visible characters.
            out = 0
            for visible in _VISIBLE_RUN.finditer(segment):
                n = visible.end() - visible.start()
                self.add(whole[out : out + n], orig_start + visible.start(), n)
                out += n
        else:
            for offset, out in enumerate(outputs):
                self.add(out, orig_start + offset, 1)


_CHAR_CACHE: dict[str, str] = {}


def _nfkc_char(char: str) -> str:
    """One character's NFKC form without invisible characters ("" for an invisible one)."""
    out = _CHAR_CACHE.get(char)
    if out is None:
        out = IGNORABLE.sub("", unicodedata.normalize("NFKC", char))
        if len(_CHAR_CACHE) < 65_536:  # bounded: full-width forms and accents repeat
            _CHAR_CACHE[char] = out
    return out


_ANY_DIGIT = re.compile(r"\d")


def normalise(original: str) -> Normalised:
    """NFKC-fold ``original``, strip invisible characters, fold digits to ASCII.

    1. Pure ASCII text is returned as it is (the common case, and free).
    2. Otherwise each run of non-ASCII characters is normalised together with the
       ASCII character before it (a combining mark may attach to it); NFKC never
       joins a character to a following ASCII one, so runs are independent.
    3. Decimal digits of any script become ASCII digits (same length).
    """
    if original.isascii():
        return Normalised(original, original, 0, None)
    builder = _Builder()
    pos = 0
    for match in _NON_ASCII_RUN.finditer(original):
        start = max(match.start() - 1, pos)
        builder.add(original[pos:start], pos, start - pos)
        builder.add_segment(original[start : match.end()], start)
        pos = match.end()
    builder.add(original[pos:], pos, len(original) - pos)
    text, pieces = "".join(builder.parts), builder.pieces or [[0, 0, 0, len(original)]]
    if len(pieces) == 1 and pieces[0][2] == pieces[0][3] == len(original):
        pieces = None  # one character-for-character piece: offsets are the original's
    if builder.foreign_digits:
        text = text.translate(_DIGITS)
    return Normalised(original, text, builder.stripped, pieces)
