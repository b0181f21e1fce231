"""Protected terms: exact data, case- and accent-insensitive, on word boundaries."""

import pickle

import pytest

from governance.scanning import ProtectedTerms, scan

TERMS = ProtectedTerms(
    [
        ("Acme", "client"),
        ("Acme Corp", "client"),
        ("Project Nightingale", "codename"),
        ("José Núñez", "staff"),
        ("C++", "codename"),
        ("x", "codename"),  # too short to match anything useful: ignored
    ]
)


def found(text: str, terms: ProtectedTerms = TERMS) -> list[tuple[str, str]]:
    return [
        (str(f.type), text[f.start : f.end]) for f in scan(text, protected_terms=terms).findings
    ]


def test_it_matches_case_insensitively_on_word_boundaries():
    assert found("We met ACME Corp today") == [("PROTECTED_TERM", "ACME Corp")]
    assert found("acme's invoice") == [("PROTECTED_TERM", "acme")]
    assert found("Welcome to Acmeville") == []
    assert found("NotAcme at all") == []


def test_it_matches_accent_insensitively_both_ways():
    assert found("Ask jose nunez.") == [("PERSON", "jose nunez")]
    assert found("Ask JOSÉ NÚÑEZ.") == [("PERSON", "JOSÉ NÚÑEZ")]
    assert found("Ask Jose\u0301 Nu\u0301n\u0303ez.") == [
        ("PERSON", "Jose\u0301 Nu\u0301n\u0303ez")
    ]


def test_it_matches_across_a_line_break_or_non_breaking_space():
    assert found("about Project\nNightingale") == [("PROTECTED_TERM", "Project\nNightingale")]
    assert found("about Project\u00a0Nightingale") == [
        ("PROTECTED_TERM", "Project\u00a0Nightingale")
    ]


def test_it_matches_through_invisible_characters():
    assert found("Ac\u200bme Corp") == [("PROTECTED_TERM", "Ac\u200bme Corp")]


def test_it_does_not_need_a_word_boundary_where_the_term_has_none():
    assert found("we use C++17") == [("PROTECTED_TERM", "C++")]


def test_it_maps_people_kinds_to_person_and_keeps_the_kind_as_note():
    [finding] = scan("José Núñez called", protected_terms=TERMS).findings
    assert (finding.type, finding.note) == ("PERSON", "staff")


def test_it_prefers_a_listed_name_to_an_honorific_guess():
    result = scan("Dr José Núñez", protected_terms=TERMS)
    assert [(f.type, f.score, f.note) for f in result.findings] == [("PERSON", 0.95, "staff")]


def test_it_lets_a_person_win_when_a_term_is_listed_twice():
    terms = ProtectedTerms([("Jordan", "client"), ("Jordan", "staff")])
    assert found("ask Jordan", terms) == [("PERSON", "Jordan")]


def test_it_shadows_a_codename_inside_an_email_for_the_policy_to_see():
    result = scan(
        "mail nightingale-team@example.com",
        protected_terms=ProtectedTerms([("Nightingale", "codename")]),
    )
    assert [f.type for f in result.findings] == ["EMAIL_ADDRESS"]
    assert [f.type for f in result.shadowed] == ["PROTECTED_TERM"]


@pytest.mark.parametrize("pairs", [[], [("", "client"), ("  ", "client")]])
def test_it_accepts_an_empty_list(pairs):
    terms = ProtectedTerms(pairs)
    assert len(terms) == 0
    assert found("Acme", terms) == []


def test_it_is_reusable_and_picklable():
    copy = pickle.loads(pickle.dumps(TERMS))
    assert found("ACME Corp", copy) == found("ACME Corp") == [("PROTECTED_TERM", "ACME Corp")]
    assert len(copy) == len(TERMS) == 5
