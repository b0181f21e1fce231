"""Our stylesheets parse as written: a stray brace makes a browser drop the rule after it
whole (an extra "}" once took every print style of the site with it, unseen on screen)."""

import re
from pathlib import Path

import pytest

STYLESHEETS = sorted((Path(__file__).resolve().parent.parent / "static" / "css").glob("*.css"))
COMMENTS_AND_STRINGS = re.compile(r"/\*.*?\*/|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'", re.DOTALL)


def brace_errors(css: str) -> list[str]:
    """Where the braces of a stylesheet do not pair up, by line."""
    errors, depth = [], 0
    text = COMMENTS_AND_STRINGS.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), css)
    for number, line in enumerate(text.splitlines(), start=1):
        for char in line:
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth < 0:
                    errors.append(f"line {number}: a '}}' closes nothing")
                    depth = 0
    if depth:
        errors.append(f"{depth} block(s) left open at the end")
    return errors


def test_the_check_finds_a_stray_brace():
    assert brace_errors("a { color: red; }\n}\n@media print { a { color: black; } }") == [
        "line 2: a '}' closes nothing"
    ]
    assert brace_errors("@media print { a { content: '}'; }") == ["1 block(s) left open at the end"]
    assert brace_errors('/* } */ a::before { content: "{"; }') == []


@pytest.mark.parametrize("path", STYLESHEETS, ids=lambda path: path.name)
def test_each_stylesheet_pairs_its_braces(path):
    assert brace_errors(path.read_text(encoding="utf-8")) == []
