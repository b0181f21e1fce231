import pytest

from governance.detection import PatternError, check_pattern, detect, read_terms
from governance.models import DetectionRule, ProtectedTermList
from governance.policy import Action
from tests.factories import make_category


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(unclosed", "not a valid regular expression"),
        ("x*", "matches empty text"),
        ("(a+)+$", "too slow"),
        ("(a|a)*!$", "too slow"),
        ("", "at least one"),
    ],
)
def test_it_refuses_bad_patterns_with_a_reason(pattern, message):
    with pytest.raises(PatternError, match=message):
        check_pattern("regex", pattern)


def test_it_accepts_ordinary_patterns_and_keywords():
    check_pattern("regex", r"\bPRJ-\d{4}\b")
    check_pattern("keywords", "privileged & confidential\nattorney-client")
    with pytest.raises(PatternError, match="one keyword"):
        check_pattern("keywords", "\n \n")


def test_terms_come_from_lines_or_csv_cells():
    assert read_terms('Acme Corp\n"Globex, Inc",Initech\n\n', pasted=False)[0] == [
        "Acme Corp",
        "Globex, Inc",
        "Initech",
    ]


def _rule(**fields) -> DetectionRule:
    values = {"name": "r", "reason": "because", "kind": "regex", "pattern": "x", "action": "warn"}
    values.update(fields)
    return DetectionRule.objects.create(**values)


def test_keyword_rules_match_folded_on_word_boundaries_at_original_offsets(db):
    confidential = make_category(number=3, slug="c", name="Confidential")
    _rule(
        name="Privilege",
        kind="keywords",
        pattern="privileged & confidential",
        action="escalate",
        min_category=confidential,
    )
    text = "Note: PRIVILEGED\u200b & Confidential — do not forward"
    hit = detect(text).rule_hits[0]
    assert hit.action is Action.ESCALATE and hit.min_category == 3
    assert [text[start:end] for start, end in hit.spans] == ["PRIVILEGED\u200b & Confidential"]
    assert detect("unprivileged & confidentiality").rule_hits == ()


def test_regex_rules_that_replace_report_every_match(db):
    _rule(name="Ticket", pattern=r"PRJ-\d{4}", action="pseudonymise")
    hit = detect("see prj-1234 and PRJ-9999").rule_hits[0]
    assert hit.spans == ((4, 12), (17, 25))


def test_inactive_rules_do_not_run(db):
    _rule(pattern="secret", is_active=False)
    assert detect("a secret").rule_hits == ()


def test_a_rule_that_times_out_blocks(db, monkeypatch):
    import governance.detection as detection

    _rule(name="Slow", pattern="(a+)+$", action="warn")  # saved around the form's check
    monkeypatch.setattr(detection, "RULE_TIMEOUT_SECONDS", 0.001)
    hit = detect("a" * 5000 + "!").rule_hits[0]
    assert hit.action is Action.BLOCK and "timed out" in hit.reason


def test_protected_terms_feed_the_scanner_and_changes_apply_at_once(db):
    clients = ProtectedTermList(name="Clients", kind="client")
    clients.set_terms(["Acme Corp"])
    clients.save()
    assert [f.type for f in detect("Email from ACME corp today").scan.findings] == [
        "PROTECTED_TERM"
    ]
    clients.set_terms(["Globex"])
    clients.save()
    assert detect("Email from ACME corp today").scan.findings == ()
    assert [f.type for f in detect("Globex called").scan.findings] == ["PROTECTED_TERM"]


def test_staff_lists_find_people(db):
    staff = ProtectedTermList(name="Staff", kind="staff")
    staff.set_terms(["Jane Doe"])
    staff.save()
    assert [f.type for f in detect("ask jane doe").scan.findings] == ["PERSON"]
