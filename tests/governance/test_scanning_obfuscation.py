"""Obfuscated identifiers are still found, and reported at their original offsets."""

import pytest

from governance.scanning import scan
from governance.scanning.normalise import fold, normalise


def found(text: str) -> list[tuple[str, str]]:
    return [(str(f.type), text[f.start : f.end]) for f in scan(text).findings]


def test_it_finds_an_email_split_by_a_zero_width_space():
    text = "mail jane\u200b@example.com now"
    assert found(text) == [("EMAIL_ADDRESS", "jane\u200b@example.com")]
    assert scan(text).stripped == 1


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
def test_it_ignores_every_kind_of_invisible_character_inside_a_card(invisible):
    card = invisible.join("4111111111111111")
    assert found(f"card {card} ok") == [("CREDIT_CARD", card)]


@pytest.mark.parametrize("control", ["\u202e", "\u202d", "\u2066", "\u2067", "\u2069", "\u200f"])
def test_it_ignores_bidi_controls(control):
    ssn = f"536{control}-22-1234"
    assert found(f"SSN {ssn}") == [("US_SSN", ssn)]


def test_it_folds_full_width_digits_and_symbols():
    card = "４１１１ １１１１ １１１１ １１１１"
    email = "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    text = f"card {card} and {email}!"
    assert found(text) == [("CREDIT_CARD", card), ("EMAIL_ADDRESS", email)]


def test_it_folds_digits_of_other_scripts():
    ssn = "٥٣٦-٢٢-١٢٣٤"  # Arabic-Indic digits: NFKC leaves them, the scanner folds them
    assert found(f"SSN {ssn}") == [("US_SSN", ssn)]


def test_it_maps_offsets_across_characters_nfkc_expands():
    # "ﬁ" (one character) becomes "fi" (two); offsets after it must still be right.
    text = "ﬁle ﬁnance: jane@example.com"
    assert found(text) == [("EMAIL_ADDRESS", "jane@example.com")]


def test_it_maps_offsets_across_characters_that_compose():
    text = "Jose\u0301 wrote to jane@example.com"  # e + combining acute composes into é
    assert found(text) == [("EMAIL_ADDRESS", "jane@example.com")]


def test_it_finds_an_email_with_tag_characters_smuggled_in():
    email = "jane\U000e0041\U000e0042@example.com"
    assert found(f"to {email}") == [("EMAIL_ADDRESS", email)]


def test_it_leaves_ascii_text_as_it_is():
    norm = normalise("plain ascii")
    assert norm.text == "plain ascii"
    assert norm.span(0, 5) == (0, 5)


def test_it_normalises_and_maps_back():
    original = "a\u200bb\uff11c"  # a, ZWSP, b, full-width 1, c
    norm = normalise(original)
    assert norm.text == "ab1c"
    assert norm.stripped == 1
    assert [norm.span(i, i + 1) for i in range(4)] == [(0, 1), (2, 3), (3, 4), (4, 5)]


def test_it_folds_for_matching_without_changing_length():
    text = "ÁCME\u00a0Straße İstanbul"
    folded = fold(normalise(text).text)
    assert folded == "acme straße istanbul"
    assert len(folded) == len(normalise(text).text)
