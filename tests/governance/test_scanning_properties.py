"""Properties of the scanner over generated text (hypothesis)."""

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.scanning import ProtectedTerms, scan
from governance.scanning.normalise import IGNORABLE, normalise

IDENTIFIERS = [
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "(415) 555-2671",
    "4111 1111 1111 1111",
    "5555555555554444",
    "DE89 3704 0044 0532 0130 00",
    "536-22-1234",
    "BSN 111222333",
    "RSSMRA85T10A562S",
    "192.168.1.20",
    "2001:db8::8a2e:370:7334",
    "https://example.com/a?b=1",
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "AKIAIOSFODNN7EXAMPLE",
    "password: Summer2024!",
    "Dr Jane Doe",
    "Acme Corp",
]
WORDS = ["the", "report", "call", "card", "order", "SSN", "on", "2024-03-15", "v1.2", "ok", "Mr"]
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e\u2066\u2069\U000e0041"
TERMS = ProtectedTerms([("Acme Corp", "client"), ("Jane Doe", "staff")])

messages = st.lists(
    st.one_of(st.sampled_from(IDENTIFIERS), st.sampled_from(WORDS), st.text(max_size=4)),
    max_size=12,
).map(" ".join)
relaxed = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def visible(text: str, result) -> list[tuple[str, str]]:
    """Each finding as its type and its text without invisible characters."""
    return [(str(f.type), IGNORABLE.sub("", text[f.start : f.end])) for f in result.findings]


@relaxed
@given(st.one_of(st.text(), messages))
def test_it_keeps_every_offset_inside_the_original_text(text):
    result = scan(text, protected_terms=TERMS)
    previous_end = 0
    for finding in (*result.findings, *result.shadowed):
        assert 0 <= finding.start < finding.end <= len(text)
    for finding in result.findings:
        assert finding.start >= previous_end  # ordered, never overlapping
        previous_end = finding.end


@relaxed
@given(messages, st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(INVISIBLE))))
def test_it_never_loses_a_finding_to_inserted_invisible_characters(text, insertions):
    obfuscated = list(text)
    for position, char in insertions:
        obfuscated.insert(position % (len(obfuscated) + 1), char)
    obfuscated = "".join(obfuscated)
    clean = scan(text, protected_terms=TERMS)
    assert visible(obfuscated, scan(obfuscated, protected_terms=TERMS)) == visible(text, clean)


@relaxed
@given(messages, st.data())
def test_it_finds_the_same_in_full_width_forms(text, data):
    # Full-width forms (U+FF01-FF5E) fold back to ASCII under NFKC.
    widen = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    wide = "".join(
        chr(ord(c) + 0xFEE0) if flag and "!" <= c <= "~" else c
        for c, flag in zip(text, widen, strict=True)
    )
    expected = [(f.type, f.start, f.end) for f in scan(text, protected_terms=TERMS).findings]
    assert [(f.type, f.start, f.end) for f in scan(wide, protected_terms=TERMS).findings] == (
        expected
    )


@relaxed
@given(st.one_of(st.text(), messages))
def test_it_gives_the_same_answer_every_time(text):
    assert scan(text, protected_terms=TERMS) == scan(text, protected_terms=TERMS)


@relaxed
@given(st.text(st.one_of(st.characters(), st.sampled_from("e\u0301\u0308ﬁ１＠\u200b\u1100\u1161"))))
def test_it_normalises_exactly_as_nfkc_of_the_visible_text_and_maps_every_character(text):
    expected = IGNORABLE.sub("", unicodedata.normalize("NFKC", IGNORABLE.sub("", text)))
    norm = normalise(text)
    assert norm.text == "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() else c for c in expected
    )
    for i in range(len(norm.text)):
        start, end = norm.span(i, i + 1)
        assert 0 <= start < end <= len(text)
