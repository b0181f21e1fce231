"""One spelling per identifier however it is typed: the subject index and the placeholders
read a full-width, mathematical or zero-width-split value as the detector does, so a
request naming "jane@example.org" reaches the message that typed it otherwise."""

import pytest

from chat.pseudonyms import Pseudonymiser, canonical
from governance.policy import Span


@pytest.mark.parametrize(
    ("kind", "typed", "plain"),
    [
        ("EMAIL_ADDRESS", "jane.roe@exam\u00adple.org", "jane.roe@example.org"),
        ("EMAIL_ADDRESS", "ｊｏｈｎ．ｄｏｅ＠ｅｘａｍｐｌｅ．ｏｒｇ", "john.doe@example.org"),
        ("PERSON", "Ｍａｒｙ Ｓｍｉｔｈ", "Mary Smith"),
        ("PERSON", "Ma\u200bry\u2060 Smith", "Mary Smith"),
        ("PERSON", "\U0001d40c\U0001d41a\U0001d42b\U0001d432 Smith", "Mary Smith"),
        ("PHONE_NUMBER", "+44 ２０ ７９４６ ０９５８", "+44 20 7946 0958"),
        ("PHONE_NUMBER", "+44 \u0662\u0660 7946 0958", "+44 20 7946 0958"),
        (
            "IBAN_CODE",
            "ＧＢ８２ ＷＥＳＴ １２３４ ５６９８ ７６５４ ３２",
            "GB82 WEST 1234 5698 7654 32",
        ),
    ],
)
def test_a_value_typed_otherwise_is_one_identifier(kind, typed, plain):
    assert canonical(kind, typed) == canonical(kind, plain)


def test_accents_still_tell_names_apart():
    # The detector keeps accents; so does the index ("José" and "Jose" are two people).
    assert canonical("PERSON", "José Roe") != canonical("PERSON", "Jose Roe")
    assert canonical("PERSON", "Jose\u0301 Roe") == canonical("PERSON", "José Roe")


def test_ascii_spellings_are_unchanged():
    assert canonical("EMAIL_ADDRESS", " Ann@Example.com ") == "ann@example.com"
    assert canonical("PERSON", "Jane   ROE") == "jane roe"
    assert canonical("PHONE_NUMBER", "+44 20 7946 0958") == "+442079460958"


def test_a_placeholder_is_the_same_for_the_value_typed_full_width():
    text = "mail jane@example.org or ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ"
    second = text.index("ｊ")
    spans = [
        Span(5, 21, "EMAIL_ADDRESS"),
        Span(second, len(text), "EMAIL_ADDRESS"),
    ]
    sent, _ = Pseudonymiser().apply(text, spans)
    assert sent.count("[EMAIL_1]") == 2 and "[EMAIL_2]" not in sent
