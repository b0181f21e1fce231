"""The policy engine's promises, table by table, then as properties over any policy."""

import dataclasses
import datetime as dt
import itertools
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.demo import CATEGORIES
from governance.policy import (
    ROUTING_FIELDS,
    Action,
    BackendSpec,
    CategorySpec,
    Outcome,
    PolicyInput,
    RuleHit,
    decide,
    screen,
)

TODAY = dt.date(2026, 11, 23)
HOSTING = ("on_prem", "private_cloud", "external_api")
DEFAULT_CATEGORIES = {
    c["number"]: CategorySpec(
        number=c["number"], name=c["name"], **{k: c[k] for k in ROUTING_FIELDS if k in c}
    )
    for c in CATEGORIES
}


def backend(hosting: str, *, approved=(1, 2, 3, 4), **overrides) -> BackendSpec:
    values = dict(
        key=hosting,
        name=f"{hosting} backend",
        hosting_class=hosting,
        provider_retention_days=0,
        region="eu",
        dpa_signed=True,
        approvals={n: 0 for n in approved},
    )
    values.update(overrides)
    return BackendSpec(**values)


def finding(kind: str, start: int = 0, end: int = 5):
    return SimpleNamespace(type=kind, start=start, end=end)


def run(chosen=1, *, cleared=(1, 2, 3), backends=None, findings=(), rules=(), categories=None):
    return decide(
        PolicyInput(
            cleared=frozenset(cleared),
            chosen=chosen,
            categories=categories or DEFAULT_CATEGORIES,
            backends=tuple(backends if backends is not None else [backend(h) for h in HOSTING]),
            findings=tuple(findings),
            rule_hits=tuple(rules),
            today=TODAY,
        )
    )


# --- Every category × backend class × finding ------------------------------------------

FINDINGS = {
    "nothing": (),
    "email": ("EMAIL_ADDRESS",),
    "national id": ("US_SSN",),
    "secret": ("SECRET",),
    "protected term": ("PROTECTED_TERM",),
    "link": ("URL",),
}
# (category, finding) -> outcome when an eligible backend exists
EXPECTED_OUTCOME = {
    **{
        (n, f): Outcome.PSEUDONYMISE
        for n in (1, 2)
        for f in FINDINGS
        if f not in ("nothing", "link")
    },
    **{(n, f): Outcome.ALLOW for n in (1, 2, 3) for f in ("nothing", "link")},
    **{(3, f): Outcome.ALLOW for f in ("email", "national id", "protected term")},
    (3, "secret"): Outcome.PSEUDONYMISE,
}
ELIGIBLE = {
    (1, "on_prem"): True,
    (1, "private_cloud"): True,
    (1, "external_api"): True,
    (2, "on_prem"): True,
    (2, "private_cloud"): True,
    (2, "external_api"): True,
    (3, "on_prem"): True,
    (3, "private_cloud"): True,
    (3, "external_api"): False,
    (4, "on_prem"): False,
    (4, "private_cloud"): False,
    (4, "external_api"): False,
}


@pytest.mark.parametrize(
    ("number", "hosting", "found"), list(itertools.product((1, 2, 3, 4), HOSTING, FINDINGS))
)
def test_every_category_backend_and_finding(number, hosting, found):
    kinds = FINDINGS[found]
    decision = run(
        number,
        cleared=(1, 2, 3, 4),
        backends=[backend(hosting)],
        findings=[finding(k) for k in kinds],
    )
    if not ELIGIBLE[(number, hosting)]:
        assert decision.outcome is Outcome.BLOCK
        assert decision.backends == ()
        return
    assert decision.outcome is EXPECTED_OUTCOME[(number, found)]
    assert decision.backends == (hosting,)
    redacted = {span.type for span in decision.redact}
    assert redacted == (set(kinds) if decision.outcome is Outcome.PSEUDONYMISE else set())


# --- Reasons a person can read ----------------------------------------------------------


def test_it_says_what_will_be_replaced_and_where_it_goes():
    decision = run(
        1,
        backends=[backend("external_api", name="Public API")],
        findings=[finding("EMAIL_ADDRESS", 0, 5), finding("EMAIL_ADDRESS", 9, 14)],
    )
    assert decision.reasons == ("2 email addresses will be replaced before sending to Public API.",)
    assert [(s.start, s.end) for s in decision.redact] == [(0, 5), (9, 14)]


def test_a_decision_routed_to_a_later_choice_names_that_backend():
    """Whoever sends picks among the eligible backends (the first may be down, or a client
    may name another): what the author reads names the one the message goes to."""
    decision = run(
        2,
        cleared=(1, 2),
        backends=[
            backend("external_api", name="Public API"),
            backend("on_prem", name="Local model", approvals={1: 1, 2: 1}),
        ],
        findings=[finding("EMAIL_ADDRESS", 0, 5)],
    )
    assert decision.backends == ("external_api", "on_prem")
    routed = decision.routed_to("on_prem", "Local model")
    assert routed.backends == ("on_prem",)
    assert routed.reasons == ("1 email address will be replaced before sending to Local model.",)
    assert (routed.outcome, routed.redact) == (decision.outcome, decision.redact)
    assert decision.routed_to("external_api", "Public API").reasons == decision.reasons


def test_a_routed_escalation_keeps_its_own_reason():
    rule = RuleHit(name="Payroll", reason="payroll data", action=Action.ESCALATE, min_category=2)
    decision = run(
        1,
        cleared=(1, 2),
        rules=[rule],
        backends=[
            backend("external_api", name="Public API"),
            backend("on_prem", name="Local", approvals={1: 1, 2: 1}),
        ],
        findings=[finding("EMAIL_ADDRESS", 0, 5)],
    )
    assert decision.outcome is Outcome.ESCALATE and len(decision.reasons) == 2
    routed = decision.routed_to("on_prem", "Local")
    assert routed.reasons == (
        decision.reasons[0],
        "1 email address will be replaced before sending to Local.",
    )


def test_a_message_moved_up_and_blocked_names_its_category_once():
    """It said "this is category 3 (…) material, which you are not cleared for. Treated as
    category 3 (…): …": the category twice, and the reason last."""
    rule = RuleHit(
        name="Client files", reason="Client files are confidential.", action=Action.ESCALATE,
        min_category=3,
    )  # fmt: skip
    uncleared = run(2, cleared=(1, 2), rules=[rule])
    assert uncleared.reasons == (
        "Blocked: this is category 3 (Confidential / personal data) material, which you "
        "are not cleared for: Client files are confidential (rule “Client files”).",
    )
    rule = RuleHit(name="Privilege", reason="legal advice", action=Action.ESCALATE, min_category=4)
    assert run(2, cleared=(1, 2, 3, 4), rules=[rule]).reasons == (
        "Blocked: this is category 4 (Prohibited) material, which is never sent to any "
        "model: legal advice (rule “Privilege”).",
    )


def test_a_block_rule_names_itself_and_the_category():
    rule = RuleHit(
        name="Privilege",
        reason="'privileged & confidential' marks attorney-client material",
        action=Action.ESCALATE,
        min_category=4,
    )
    decision = run(2, rules=[rule])
    assert decision.outcome is Outcome.BLOCK
    assert decision.category == 4
    assert "category 4 (Prohibited) material, which is never sent" in decision.reasons[0]
    assert "attorney-client material" in decision.reasons[0]


def test_escalation_to_an_uncleared_category_blocks_with_that_reason():
    rule = RuleHit(
        name="Client names", reason="client data", action=Action.ESCALATE, min_category=3
    )
    decision = run(1, cleared=(1, 2), rules=[rule])
    assert decision.outcome is Outcome.BLOCK
    assert "not cleared" in decision.reasons[0] and "client data" in decision.reasons[0]


def test_escalation_to_a_cleared_category_reroutes_on_premise():
    rule = RuleHit(
        name="Client names", reason="client data", action=Action.ESCALATE, min_category=3
    )
    decision = run(1, rules=[rule])
    assert decision.outcome is Outcome.ESCALATE
    assert decision.category == 3
    assert decision.backends == ("on_prem", "private_cloud")


def test_an_uncleared_chosen_category_is_refused():
    assert "not cleared for category 3" in run(3, cleared=(1,)).reasons[0]


def test_a_direct_block_rule_blocks():
    decision = run(
        1, rules=[RuleHit(name="Codename", reason="Project Falcon is secret", action=Action.BLOCK)]
    )
    assert decision.blocked and "Project Falcon" in decision.reasons[0]


def test_warn_rules_warn_and_pseudonymise_rules_redact_their_span():
    rules = [
        RuleHit(name="Salary", reason="pay data is sensitive", action=Action.WARN),
        RuleHit(name="Ticket", reason="ticket ids", action=Action.PSEUDONYMISE, spans=((3, 9),)),
    ]
    decision = run(1, rules=rules)
    assert decision.warnings == ("pay data is sensitive (rule “Salary”).",)
    assert [(s.start, s.end, s.type) for s in decision.redact] == [(3, 9, "RULE")]


def test_the_matrix_can_block_a_finding_type_in_a_category():
    categories = {
        **DEFAULT_CATEGORIES,
        2: CategorySpec(number=2, name="Internal", finding_actions={"CREDIT_CARD": "block"}),
    }
    decision = run(2, findings=[finding("CREDIT_CARD")], categories=categories)
    assert decision.reasons == (
        "Blocked: 1 payment card number may not be sent in category 2 (Internal).",
    )


def test_secrets_are_replaced_even_if_the_matrix_says_allow():
    categories = {
        **DEFAULT_CATEGORIES,
        3: CategorySpec(number=3, name="Confidential", finding_actions={"SECRET": "allow"}),
    }
    decision = run(3, findings=[finding("SECRET")], categories=categories)
    assert decision.outcome is Outcome.PSEUDONYMISE


def test_no_eligible_backend_blocks_instead_of_falling_back():
    decision = run(3, backends=[backend("external_api")])
    assert decision.blocked and "No approved backend" in decision.reasons[0]


def test_backends_come_in_preference_order_and_only_if_enabled_approved_and_fit():
    backends = [
        backend("on_prem", key="b", name="B", approvals={1: 2}),
        backend("on_prem", key="a", name="A", approvals={1: 1}),
        backend("on_prem", key="off", name="Off", enabled=False),
        backend("on_prem", key="unapproved", name="U", approvals={2: 0}),
        backend("external_api", key="trains", name="T", trains_on_inputs=True, approvals={2: 0}),
    ]
    assert run(1, backends=backends).backends == ("a", "b")
    assert run(2, backends=backends).backends == ("unapproved",)  # "trains" breaks a requirement


def test_an_expired_dpa_suspends_the_backend_where_a_dpa_is_required():
    lapsed = backend("external_api", dpa_expires_on=TODAY - dt.timedelta(days=1))
    assert run(2, backends=[lapsed]).blocked  # Internal requires a DPA
    assert not run(1, backends=[lapsed]).blocked  # Public does not


def test_a_matrix_value_it_cannot_hold_blocks_and_secrets_never_pass_in_clear():
    categories = {
        **DEFAULT_CATEGORIES,
        3: CategorySpec(
            number=3,
            name="Confidential",
            finding_actions={"SECRET": "escalate", "EMAIL_ADDRESS": "shrug"},
        ),
    }
    assert run(3, findings=[finding("EMAIL_ADDRESS")], categories=categories).blocked
    assert run(3, findings=[finding("SECRET")], categories=categories).blocked


def test_overlapping_spans_are_merged():
    decision = run(1, findings=[finding("EMAIL_ADDRESS", 0, 10), finding("PERSON", 5, 15)])
    assert [(s.start, s.end) for s in decision.redact] == [(0, 15)]


# --- Properties: whatever the policy says ---------------------------------------------

KINDS = ["EMAIL_ADDRESS", "PHONE_NUMBER", "SECRET", "URL", "PROTECTED_TERM", "US_SSN", "PERSON"]
actions = st.sampled_from(list(Action))
categories_strategy = st.fixed_dictionaries(
    {
        n: st.builds(
            CategorySpec,
            number=st.just(n),
            name=st.just(f"C{n}"),
            blocks_all=st.booleans(),
            allowed_hosting_classes=st.lists(st.sampled_from(HOSTING), unique=True),
            forbid_training=st.booleans(),
            require_zero_retention=st.booleans(),
            require_dpa=st.booleans(),
            finding_actions=st.dictionaries(
                st.sampled_from(KINDS), st.sampled_from([a.value for a in Action])
            ),
        )
        for n in (1, 2, 3, 4)
    }
)
backends_strategy = st.lists(
    st.builds(
        BackendSpec,
        key=st.text(min_size=1, max_size=4),
        name=st.text(max_size=4),
        hosting_class=st.sampled_from(HOSTING),
        trains_on_inputs=st.booleans(),
        provider_retention_days=st.one_of(st.none(), st.integers(0, 60)),
        dpa_signed=st.booleans(),
        enabled=st.booleans(),
        approvals=st.dictionaries(st.integers(1, 4), st.integers(0, 5)),
    ),
    max_size=6,
    unique_by=lambda b: b.key,
)
rules_strategy = st.lists(
    st.builds(
        RuleHit,
        name=st.just("r"),
        reason=st.just("why"),
        action=actions,
        min_category=st.one_of(st.none(), st.integers(1, 4)),
        spans=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 40)), max_size=3).map(tuple),
    ),
    max_size=4,
)
findings_strategy = st.lists(
    st.builds(
        SimpleNamespace,
        type=st.sampled_from(KINDS),
        start=st.integers(0, 50),
        end=st.integers(51, 90),
    ),
    max_size=6,
)


policy_inputs = st.builds(
    lambda categories, backends, rules, findings, cleared, chosen: PolicyInput(
        cleared=cleared,
        chosen=chosen,
        categories=categories,
        backends=tuple(backends),
        findings=tuple(findings),
        rule_hits=tuple(rules),
        today=TODAY,
    ),
    categories=categories_strategy,
    backends=backends_strategy,
    rules=rules_strategy,
    findings=findings_strategy,
    cleared=st.frozensets(st.integers(1, 4)),
    chosen=st.integers(1, 4),
)


@settings(max_examples=400, deadline=None)
@given(policy_inputs)
def test_confidential_never_leaves_and_prohibited_never_goes(inputs):
    decision = decide(inputs)
    by_key = {b.key: b for b in inputs.backends}
    if decision.category >= 3:
        assert all(by_key[k].hosting_class != "external_api" for k in decision.backends)
    if decision.category == 4 or inputs.categories[decision.category].blocks_all:
        assert decision.blocked and decision.backends == ()
    if decision.blocked:
        assert decision.backends == () and decision.reasons
    else:
        assert decision.category in inputs.cleared and decision.category >= inputs.chosen
        assert decision.backends
        for key in decision.backends:
            chosen_backend = by_key[key]
            assert chosen_backend.enabled and decision.category in chosen_backend.approvals
        secrets = [f for f in inputs.findings if f.type == "SECRET"]
        covered = [(s.start, s.end) for s in decision.redact]
        for secret in secrets:
            assert any(a <= secret.start and secret.end <= b for a, b in covered)


@given(policy_inputs)
def test_screening_kept_text_decides_as_a_message_would_but_needs_no_backend(inputs):
    """A conversation's title is screened like a message in its category: what would block
    it or raise its category does the same, whatever backends serve the category today."""
    decided, screened = decide(inputs), screen(inputs)
    if decided.blocked and "No approved backend" in decided.reasons[0]:
        assert not screened.blocked and screened.backends == ()
    else:
        # What is said, naming a backend or not, and what a backend would get replaced:
        # kept text goes to none (Hypothesis found the kinds left out, session 41).
        unsaid = {"reasons": (), "replaced": "", "replaced_kinds": ()}
        assert dataclasses.replace(screened, **unsaid) == dataclasses.replace(decided, **unsaid)
        assert screened.replaced == "" and screened.replaced_kinds == ()
        if decided.blocked:
            assert screened.reasons == decided.reasons
    without_backends = screen(dataclasses.replace(inputs, backends=()))
    assert (without_backends.outcome, without_backends.category) == (
        screened.outcome,
        screened.category,
    )


def test_screening_names_what_a_message_would_have_replaced_with_no_backend_to_name():
    given = PolicyInput(
        cleared=frozenset({1, 2, 3}),
        chosen=2,
        categories=DEFAULT_CATEGORIES,
        backends=(),
        findings=(finding("SECRET"), finding("EMAIL_ADDRESS", 10, 20)),
        rule_hits=(),
        today=TODAY,
    )
    assert decide(given).blocked
    screened = screen(given)
    assert screened.outcome is Outcome.PSEUDONYMISE and screened.backends == ()
    assert screened.reasons == (
        "1 email address, 1 secret or credential would be replaced in a message.",
    )
