"""What a detection rule or the finding matrix matches is what it acts on.

A rule that replaces its match replaces every match, within the rule's time limit; a
finding hidden under an overlapping finding of another type is decided like any other
(the strictest action wins); and pattern rules read the text as the scanner does.
"""

import json
from types import SimpleNamespace

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from chat import services
from governance.detection import detect
from governance.models import Category, DetectionRule, ProtectedTermList
from governance.policy import MATRIX_ACTIONS, Action, CategorySpec, PolicyInput, decide
from governance.simulation import simulate
from tests.chat import conftest as chat
from tests.governance.test_policy_engine import DEFAULT_CATEGORIES, TODAY, backend

# The chat app's fixtures: the demo organisation, its backends faked on loopback.
org, local_llm, external_llm = chat.org, chat.local_llm, chat.external_llm

CODENAME = "Bluefalcon"


def _rule(**fields) -> DetectionRule:
    values = {
        "name": "Internal ids",
        "reason": "internal identifiers",
        "kind": "regex",
        "pattern": r"PRJ-\d{4}",
        "action": "pseudonymise",
    }
    values.update(fields)
    return DetectionRule.objects.create(**values)


def _send(org, text, conversation=None, *, author=None, category=None):
    author = author or org.alice
    conversation = conversation or services.start_conversation(
        owner=author, category=category or org.internal
    )
    return services.send_message(conversation=conversation, author=author, text=text)


def _received(org) -> str:
    """Everything the external API was sent, as one string."""
    return json.dumps([request.body for request in org.external.requests])


# --- A rule that replaces its match replaces every match ------------------------------


@pytest.mark.parametrize(
    ("kind", "pattern", "text", "second"),
    [
        ("regex", r"PRJ-\d{4}", "Compare PRJ-1234 with PRJ-9999, please.", "PRJ-9999"),
        (
            "keywords",
            "Nightingale",
            "Nightingale slipped; tell the Nightingale team.",
            "Nightingale",
        ),
    ],
)
def test_it_replaces_every_match_of_a_replace_rule_before_sending(
    org, django_capture_on_commit_callbacks, kind, pattern, text, second
):
    _rule(kind=kind, pattern=pattern)
    with django_capture_on_commit_callbacks(execute=True):
        sent = _send(org, text)
    assert sent.decision.outcome == "pseudonymised"
    outgoing = org.external.requests[-1].body["messages"][-1]["content"]
    assert "[REDACTED_1]" in outgoing
    assert second not in outgoing, outgoing


def test_a_value_keeps_its_placeholder_across_matches_and_messages(
    org, django_capture_on_commit_callbacks
):
    _rule()
    with django_capture_on_commit_callbacks(execute=True):  # the answer comes back
        first = _send(org, "PRJ-1234 blocks PRJ-9999; see prj-1234 again.")
    assert first.outgoing[-1][1] == "[REDACTED_1] blocks [REDACTED_2]; see [REDACTED_1] again."
    assert first.message.replaced == {"RULE": 3}
    second = _send(org, "Now PRJ-9999 and PRJ-5555.", first.message.conversation)
    assert second.outgoing[-1][1] == "Now [REDACTED_2] and [REDACTED_3]."


def test_the_preview_and_the_simulator_count_every_match(org, client):
    _rule()
    conversation = services.start_conversation(owner=org.alice, category=org.internal)
    client.force_login(org.alice)
    text = "PRJ-1234, PRJ-9999 and PRJ-1234"
    page = client.post(
        reverse("chat:preview", args=[conversation.public_id]),
        {"text": text},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    said = "3 matches of rule “Internal ids” will be replaced: internal identifiers."
    assert said in page
    simulation = simulate(user=org.alice, chosen=2, text=text)
    assert said in simulation.decision.reasons
    assert len(simulation.decision.redact) == 3


def test_block_warn_and_escalate_rules_act_once_on_their_first_match(db):
    _rule(name="Tickets", action="warn")
    (hit,) = detect("see prj-1234 and PRJ-9999").rule_hits
    assert hit.action is Action.WARN and hit.spans == ((4, 12),)


def test_a_replace_rule_that_runs_out_of_time_on_a_later_match_blocks(db):
    """The time limit covers the whole rule, not each match: a pattern quick to its first
    match but slow over the message must not leave the rest of the message unread."""
    _rule(name="Slow", pattern=r"(a|a)*!Y|PRJ-\d{4}")  # saved around the form's check
    text = "PRJ-0001 " + ("a" * 14 + "! PRJ-0002 ") * 200
    (hit,) = detect(text).rule_hits
    assert hit.action is Action.BLOCK and "timed out" in hit.reason
    assert hit.spans == ()


# --- A finding hidden under another is decided too ------------------------------------


def _codenames(org, actions):
    terms = ProtectedTermList(name="Codenames", kind=ProtectedTermList.Kind.CODENAME)
    terms.set_terms([CODENAME])
    terms.save()
    Category.objects.filter(pk=org.internal.pk).update(finding_actions=actions)


def test_a_blocked_codename_inside_an_allowed_email_blocks(org, django_capture_on_commit_callbacks):
    # Business e-mail addresses may go out in category 2; codenames never.
    _codenames(org, {"EMAIL_ADDRESS": "allow", "PROTECTED_TERM": "block"})
    assert _send(org, f"Status of {CODENAME}?").decision.blocked
    with django_capture_on_commit_callbacks(execute=True):
        sent = _send(org, f"Draft a status mail to {CODENAME.lower()}-team@example.com")
    assert sent.decision.blocked
    assert sent.decision.reasons == (
        "Blocked: 1 protected term may not be sent in category 2 (Internal).",
    )
    assert CODENAME.lower() not in _received(org).lower()


def test_a_replaced_codename_inside_an_allowed_email_replaces_the_address(
    org, django_capture_on_commit_callbacks
):
    _codenames(org, {"EMAIL_ADDRESS": "allow"})  # protected terms: replaced (the default)
    with django_capture_on_commit_callbacks(execute=True):
        sent = _send(org, f"Write to ops@{CODENAME.lower()}.com about {CODENAME}'s renewal")
    assert sent.outgoing[-1][1] == "Write to [EMAIL_1] about [TERM_1]'s renewal"
    assert CODENAME.lower() not in _received(org).lower()
    assert "[TERM_1]" in _received(org)


def test_a_link_around_a_replaced_email_keeps_the_rest_of_the_link(org):
    sent = _send(org, "See https://crm.example.com/?contact=jane@example.com", category=org.public)
    assert sent.outgoing[-1][1] == "See https://crm.example.com/?contact=[EMAIL_1]"


KINDS = ["EMAIL_ADDRESS", "PROTECTED_TERM", "PERSON", "URL", "US_SSN", "PHONE_NUMBER"]
spans = st.tuples(st.integers(0, 60), st.integers(1, 30)).map(lambda p: (p[0], p[0] + p[1]))
findings = st.lists(
    st.builds(
        lambda kind, span: SimpleNamespace(type=kind, start=span[0], end=span[1]),
        st.sampled_from(KINDS),
        spans,
    ),
    max_size=5,
)


def _overlap(one, other) -> bool:
    return one.start < other.end and other.start < one.end


def _in_a_row(parts) -> list[SimpleNamespace]:
    """Findings one after another, as the scanner keeps them: (type, gap, length) each."""
    position, laid = 0, []
    for kind, gap, length in parts:
        position += gap
        laid.append(SimpleNamespace(type=kind, start=position, end=position + length))
        position += length
    return laid


kept_findings = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 10), st.integers(1, 15)), max_size=5
).map(_in_a_row)


@given(
    matrix=st.dictionaries(
        st.sampled_from(KINDS), st.sampled_from([str(a) for a in MATRIX_ACTIONS])
    ),
    kept=st.one_of(kept_findings, findings),
    shadowed=findings,
)
def test_every_finding_kept_or_hidden_gets_at_least_its_own_action(matrix, kept, shadowed):
    """Whatever the matrix: any finding that blocks blocks, any that is replaced is covered
    by the replacement, and so is all of a finding kept that overlaps one; replacements
    never overlap."""
    categories = {
        **DEFAULT_CATEGORIES,
        2: CategorySpec(number=2, name="Internal", finding_actions=matrix),
    }
    decision = decide(
        PolicyInput(
            cleared=frozenset({1, 2, 3}),
            chosen=2,
            categories=categories,
            backends=(backend("on_prem"),),
            findings=tuple(kept),
            shadowed=tuple(shadowed),
            today=TODAY,
        )
    )
    own = [(f, categories[2].action_for(f.type)) for f in (*kept, *shadowed)]
    assert decision.blocked == any(action is Action.BLOCK for _, action in own)
    if decision.blocked:
        return
    covered = [(s.start, s.end) for s in decision.redact]
    replaced = [f for f, action in own if action is Action.PSEUDONYMISE]
    # A finding kept goes whole when anything hidden in it goes: no fragment is left.
    hidden = [f for f in shadowed if categories[2].action_for(f.type) is Action.PSEUDONYMISE]
    replaced += [f for f in kept if any(_overlap(f, h) for h in hidden)]
    for found in replaced:
        assert any(a <= found.start and found.end <= b for a, b in covered), found
    assert all(a.end <= b.start for a, b in zip(decision.redact, decision.redact[1:]))


# --- Pattern rules read the text as the scanner does ----------------------------------


@pytest.mark.parametrize(
    "written", ["PRJ-\u200b1234", "PRJ\u2060-1234", "ＰＲＪ－１２３４", "P\u00adRJ-1234"]
)
def test_a_pattern_rule_sees_through_invisible_characters_and_wide_forms(db, written):
    _rule()
    text = f"Compare {written} with the plan"
    (hit,) = detect(text).rule_hits
    assert [text[start:end] for start, end in hit.spans] == [written]


def test_an_invisible_character_does_not_carry_a_blocked_pattern_out(org):
    _rule(action="block")
    sent = _send(org, "Ship PRJ-\u200b1234 today")
    assert sent.decision.blocked and "internal identifiers" in sent.decision.reasons[0]


def test_a_reason_ending_in_a_full_stop_is_not_given_a_second(org):
    _rule(reason="Ticket ids stay inside.")
    reasons = simulate(user=org.alice, chosen=2, text="See PRJ-1234").decision.reasons
    assert "1 match of rule “Internal ids” will be replaced: Ticket ids stay inside." in reasons
    assert not any(".." in reason for reason in reasons)


def test_a_blocked_message_is_not_told_what_would_have_been_replaced(org):
    """Moved up to a category its author is not cleared for: the reason says why it moved,
    not that its matches "will be replaced" (nothing is sent)."""
    _rule()
    DetectionRule.objects.create(
        name="Client files", reason="Client files are confidential", pattern="client file",
        action="escalate", min_category=org.confidential,
    )  # fmt: skip
    decision = simulate(user=org.alice, chosen=2, text="PRJ-1234, a client file").decision
    assert decision.blocked
    assert "Client files are confidential" in " ".join(decision.reasons)
    assert "will be replaced" not in " ".join(decision.reasons)
