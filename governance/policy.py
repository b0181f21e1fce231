"""Pure policy rules: no ORM queries, no I/O, only the values passed in.

The routing requirements a backend must meet to serve a category, and the
policy engine: (clearances, category, scan result, rules, backends) → decision.
"""

import datetime as dt
import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol


class RoutingRequirements(Protocol):
    number: int
    name: str
    blocks_all: bool
    allowed_hosting_classes: Sequence[str]
    forbid_training: bool
    forbid_consumer_products: bool
    require_zero_retention: bool
    allowed_regions: Sequence[str]
    require_dpa: bool


class BackendAttributes(Protocol):
    name: str
    hosting_class: str
    trains_on_inputs: bool
    consumer_product: bool
    provider_retention_days: int | None
    region: str
    dpa_signed: bool
    dpa_expires_on: dt.date | None


#: The category fields that say where it may go, and the backend fields they test.
ROUTING_FIELDS = (
    "blocks_all",
    "allowed_hosting_classes",
    "forbid_training",
    "forbid_consumer_products",
    "require_zero_retention",
    "allowed_regions",
    "require_dpa",
)
BACKEND_ATTRIBUTE_FIELDS = (
    "hosting_class",
    "trains_on_inputs",
    "consumer_product",
    "provider_retention_days",
    "region",
    "dpa_signed",
    "dpa_expires_on",
)

#: Where a backend runs, in words: the labels of ``governance.models.HostingClass``, kept here
#: because that module imports this one (and this one stays free of the ORM).
HOSTING_LABELS = {
    "on_prem": "On-premise",
    "private_cloud": "Private cloud",
    "external_api": "External API",
}


def in_a_sentence(label: str) -> str:
    """A label as a sentence says it: "Email addresses" → "email addresses", but "IBANs" and
    "IP addresses" stay as they are."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def hosting_name(hosting_class: str) -> str:
    """A hosting class as a sentence says it ("external_api" → "external API"); kept as it is
    when it is none of them."""
    label = HOSTING_LABELS.get(hosting_class)
    return in_a_sentence(label) if label else hosting_class


# A category's number is its sensitivity level, and two levels are hard floors no
# setting can lower: level 3 (confidential) only ever reaches on-premise or
# private-cloud backends, level 4 (prohibited) reaches nothing.
CONFIDENTIAL_LEVEL = 3
PROHIBITED_LEVEL = 4
INTERNAL_HOSTING = frozenset({"on_prem", "private_cloud"})


def is_prohibited(category: RoutingRequirements) -> bool:
    """Whether no model may ever receive the category's material."""
    return category.blocks_all or category.number >= PROHIBITED_LEVEL


def unmet_requirements(
    category: RoutingRequirements, backend: BackendAttributes, *, today: dt.date
) -> list[str]:
    """Why ``backend`` may not serve ``category``, one sentence per broken requirement.

    An empty list means every requirement holds, the level floors included: this is
    the one rule both the console's approvals and the engine's routing apply.
    ``today`` decides whether a signed DPA has expired.
    """
    if is_prohibited(category):
        return [f"{category.name} is prohibited: no backend may receive it."]
    problems = []
    allowed = category.allowed_hosting_classes
    got = hosting_name(backend.hosting_class)
    if allowed and backend.hosting_class not in allowed:
        wanted = " or ".join(hosting_name(h) for h in allowed)
        problems.append(
            f"{category.name} needs {_a(wanted)} {wanted} backend; "
            f"{backend.name} is {_a(got)} {got} backend."
        )
    elif category.number >= CONFIDENTIAL_LEVEL and backend.hosting_class not in INTERNAL_HOSTING:
        problems.append(
            f"{category.name} is level {category.number}: only an on-premise or private cloud "
            f"backend may receive it; {backend.name} is {_a(got)} {got} backend."
        )
    if category.forbid_training and backend.trains_on_inputs:
        problems.append(f"{category.name} forbids backends that train on inputs.")
    if category.forbid_consumer_products and backend.consumer_product:
        problems.append(f"{category.name} forbids consumer products.")
    if category.require_zero_retention and backend.provider_retention_days != 0:
        problems.append(f"{category.name} needs zero data retention at the provider.")
    if category.allowed_regions and backend.region not in category.allowed_regions:
        regions = ", ".join(category.allowed_regions)
        where = f"is {backend.region}" if backend.region else "is not recorded"
        problems.append(
            f"{category.name} may only go to {regions}; {backend.name}'s region {where}."
        )
    # A DPA binds a third-party processor; hardware we run ourselves has none.
    if category.require_dpa and backend.hosting_class != "on_prem":
        if not backend.dpa_signed:
            problems.append(f"{category.name} needs a signed data processing agreement.")
        elif backend.dpa_expires_on is not None and backend.dpa_expires_on < today:
            problems.append(
                f"{category.name} needs a data processing agreement; "
                f"{backend.name}'s expired on {backend.dpa_expires_on.isoformat()}."
            )
    return problems


# --- The policy engine ---------------------------------------------------------------
#
# decide() is a pure function of plain values: the caller (a service) snapshots
# categories, backends, approvals, clearances and rule hits from the database,
# the scanner supplies findings, and nothing here does I/O. The level floors are
# those of unmet_requirements above.


class Action(StrEnum):
    """What happens to a finding or a rule hit."""

    ALLOW = "allow"
    WARN = "warn"
    PSEUDONYMISE = "pseudonymise"
    ESCALATE = "escalate"
    BLOCK = "block"


#: What a cell of the finding matrix may say, weakest first (escalation is for rules).
MATRIX_ACTIONS = (Action.ALLOW, Action.WARN, Action.PSEUDONYMISE, Action.BLOCK)


class Outcome(StrEnum):
    ALLOW = "allowed"
    PSEUDONYMISE = "pseudonymised"
    ESCALATE = "escalated"
    BLOCK = "blocked"


SECRET_TYPES = frozenset({"SECRET"})
HARMLESS_TYPES = frozenset({"URL"})

# Human names for reasons: type -> (one, many).
ENTITY_NAMES = {
    "EMAIL_ADDRESS": ("email address", "email addresses"),
    "PHONE_NUMBER": ("phone number", "phone numbers"),
    "CREDIT_CARD": ("payment card number", "payment card numbers"),
    "IBAN_CODE": ("IBAN", "IBANs"),
    "IP_ADDRESS": ("IP address", "IP addresses"),
    "URL": ("link", "links"),
    "CRYPTO": ("crypto wallet address", "crypto wallet addresses"),
    "SECRET": ("secret or credential", "secrets or credentials"),
    "PERSON": ("person's name", "people's names"),
    "PROTECTED_TERM": ("protected term", "protected terms"),
}


#: National identifiers by name (a message's reasons say "national identifier").
NATIONAL_ID_NAMES = {
    "US_SSN": "US Social Security number",
    "US_ITIN": "US ITIN",
    "UK_NHS": "UK NHS number",
    "UK_NINO": "UK National Insurance number",
    "DE_TAX_ID": "German tax ID",
    "FR_NIR": "French social security number",
    "NL_BSN": "Dutch BSN",
    "ES_NIF": "Spanish NIF",
    "ES_NIE": "Spanish NIE",
    "IT_FISCAL_CODE": "Italian fiscal code",
    "PL_PESEL": "Polish PESEL",
    "IN_AADHAAR": "Indian Aadhaar number",
    "CA_SIN": "Canadian SIN",
    "FI_PERSONAL_IDENTITY_CODE": "Finnish personal identity code",
}


def finding_name(kind: str) -> str:
    """A finding type as a person reads it: "EMAIL_ADDRESS" → "Email address", "IBAN_CODE"
    → "IBAN", "rule Codename" → "Rule “Codename”"; anything else as it is."""
    if kind.startswith("rule "):
        return f"Rule “{kind.removeprefix('rule ')}”"
    if kind in ENTITY_NAMES:
        one = ENTITY_NAMES[kind][0]
        return one[:1].upper() + one[1:]
    return NATIONAL_ID_NAMES.get(kind, kind)


def entity_name(kind: str, count: int = 1) -> str:
    one, many = ENTITY_NAMES.get(kind, ("national identifier", "national identifiers"))
    return one if count == 1 else many


def entity_phrase(kind: str, count: int) -> str:
    return f"{count} {entity_name(kind, count)}"


def default_action(level: int, kind: str) -> Action:
    """The finding matrix's defaults, which each category may override per type.

    Secrets are replaced everywhere; links pass; everything else (personal
    identifiers, names, protected terms) is replaced below the confidential
    level and allowed at it, where only our own infrastructure receives it.
    """
    if kind in SECRET_TYPES:
        return Action.PSEUDONYMISE
    if kind in HARMLESS_TYPES:
        return Action.ALLOW
    return Action.ALLOW if level >= CONFIDENTIAL_LEVEL else Action.PSEUDONYMISE


@dataclass(frozen=True)
class CategorySpec:
    """A category as the engine sees it (satisfies :class:`RoutingRequirements`)."""

    number: int
    name: str
    blocks_all: bool = False
    allowed_hosting_classes: Sequence[str] = ()
    forbid_training: bool = False
    forbid_consumer_products: bool = False
    require_zero_retention: bool = False
    allowed_regions: Sequence[str] = ()
    require_dpa: bool = False
    #: Overrides of :func:`default_action`, entity type -> action.
    finding_actions: Mapping[str, str] = field(default_factory=dict)

    def action_for(self, kind: str) -> Action:
        if is_prohibited(self):
            return Action.BLOCK
        configured = self.finding_actions.get(kind)
        if configured is None:
            action = default_action(self.number, kind)
        elif configured in MATRIX_ACTIONS:
            action = Action(configured)
        else:
            action = Action.BLOCK  # a value the matrix cannot hold: fail closed
        if kind in SECRET_TYPES and MATRIX_ACTIONS.index(action) < MATRIX_ACTIONS.index(
            Action.PSEUDONYMISE
        ):
            return Action.PSEUDONYMISE  # credentials never leave in clear, whatever the matrix
        return action


@dataclass(frozen=True)
class BackendSpec:
    """A backend as the engine sees it (satisfies :class:`BackendAttributes`)."""

    key: str
    name: str
    hosting_class: str
    trains_on_inputs: bool = False
    consumer_product: bool = False
    provider_retention_days: int | None = 0
    region: str = ""
    dpa_signed: bool = False
    dpa_expires_on: dt.date | None = None
    enabled: bool = True
    #: category number -> preference (lower first); absent: not approved for it.
    approvals: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleHit:
    """An admin rule that matched the message (matching happens in the scanner)."""

    name: str
    reason: str
    action: Action
    min_category: int | None = None
    #: Where it matched, ``(start, end)``: every match of a rule that replaces its
    #: match, the first match of any other.
    spans: tuple[tuple[int, int], ...] = ()


class FindingLike(Protocol):
    type: str
    start: int
    end: int


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str


@dataclass(frozen=True)
class PolicyInput:
    cleared: frozenset[int]
    chosen: int
    categories: Mapping[int, CategorySpec]
    backends: tuple[BackendSpec, ...]
    findings: tuple[FindingLike, ...] = ()
    #: Findings of another type hidden under one of ``findings`` (the scanner's
    #: ``ScanResult.shadowed``): decided too, but replaced as part of what they overlap.
    shadowed: tuple[FindingLike, ...] = ()
    rule_hits: tuple[RuleHit, ...] = ()
    today: dt.date = field(default_factory=dt.date.today)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    category: int
    backends: tuple[str, ...] = ()
    redact: tuple[Span, ...] = ()
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: What will be replaced ("1 email address, 1 phone number"), when anything will: the
    #: last reason says so, naming the backend the message goes to.
    replaced: str = ""
    #: The finding types behind ``replaced``.
    replaced_kinds: tuple[str, ...] = ()

    @property
    def replaces_secrets(self) -> bool:
        """Whether a secret or credential will be replaced: pasted, it is kept in the
        conversation all the same, and its owner should rotate it."""
        return bool(SECRET_TYPES.intersection(self.replaced_kinds))

    @property
    def blocked(self) -> bool:
        return self.outcome is Outcome.BLOCK

    def routed_to(self, key: str, name: str) -> "Decision":
        """This decision with the eligible backend ``key`` (named ``name``) as its only way
        out. The policy's first choice may be passed over (down, without its key, or not
        the one a client asked for): the reasons name the backend the message goes to."""
        reasons = self.reasons
        if self.replaced:
            reasons = (*reasons[:-1], _replacement_reason(self.replaced, name))
        return replace(self, backends=(key,), reasons=reasons)


def decide(given: PolicyInput) -> Decision:
    """Where a message may go, and what must change before it goes.

    1. The chosen category must exist and be cleared for the user.
    2. Rules run: a block rule blocks; an escalation raises the category to
       the rule's minimum, which the user must be cleared for too.
    3. A prohibited category (level 4, or one that blocks everything) blocks.
    4. Each finding gets its action in the effective category's matrix:
       block, pseudonymise (its span is replaced) or allow. A finding hidden
       under another (``shadowed``) counts too: the strictest action over the
       findings that overlap wins, and a replacement covers all of them.
    5. Eligible backends: enabled, approved for the category, meeting all its
       requirements, and (level 3 and above) never outside our infrastructure;
       none eligible blocks, never falling back to a less protected backend.
    """
    return _decide(given, to_a_model=True)


def screen(given: PolicyInput) -> Decision:
    """:func:`decide` for text that Steward keeps but sends to no model (a conversation's
    title): steps 1 to 4 alike, so what would block or raise a message does the same here;
    no backend is needed (its ``backends`` are those that would serve it, if any)."""
    return _decide(given, to_a_model=False)


def _decide(given: PolicyInput, *, to_a_model: bool) -> Decision:
    chosen = given.categories.get(given.chosen)
    if chosen is None:
        return _block(given.chosen, "That category does not exist.")
    if given.chosen not in given.cleared:
        return _block(given.chosen, f"You are not cleared for {_label(chosen)}.")

    level = given.chosen
    reasons: list[str] = []
    moved: list[str] = []  # why the message is in a higher category: said if it is blocked
    warnings: list[str] = []
    spans: list[Span] = []
    for hit in given.rule_hits:
        if hit.action is Action.BLOCK:
            return _block(level, f"Blocked: {hit.reason} (rule “{hit.name}”).")
        if hit.action is Action.WARN:
            warnings.append(f"{hit.reason} (rule “{hit.name}”).")
        elif hit.action is Action.PSEUDONYMISE:
            matched = [Span(start, end, "RULE") for start, end in hit.spans if end > start]
            if matched:
                spans += matched
                many = "match" if len(matched) == 1 else "matches"
                reasons.append(
                    f"{len(matched)} {many} of rule “{hit.name}” will be replaced: "
                    f"{hit.reason.rstrip('.')}."
                )
        elif hit.action is Action.ESCALATE and hit.min_category and hit.min_category > level:
            target = given.categories.get(hit.min_category)
            if target is None:
                return _block(hit.min_category, f"Rule “{hit.name}” names a missing category.")
            level = hit.min_category
            moved.append(f"{hit.reason.rstrip('.')} (rule “{hit.name}”)")
            reasons.append(f"Treated as {_label(target)}: {moved[-1]}.")
    category = given.categories[level]
    if is_prohibited(category):
        if moved:
            return _block(
                level, _moved_and_blocked(category, "which is never sent to any model", moved)
            )
        return _block(level, f"Blocked: {_label(category)} material is never sent to any model.")
    if level not in given.cleared:
        if moved:
            return _block(
                level, _moved_and_blocked(category, "which you are not cleared for", moved)
            )
        return _block(
            level, f"Blocked: this is {_label(category)} material, which you are not cleared for."
        )

    counts, replaced_spans = _decided(category, given.findings, given.shadowed)
    spans += replaced_spans
    blocking = [kind for (action, kind) in counts if action is Action.BLOCK]
    if blocking:
        found = ", ".join(entity_phrase(k, counts[(Action.BLOCK, k)]) for k in sorted(blocking))
        return _block(level, f"Blocked: {found} may not be sent in {_label(category)}.")
    for (action, kind), count in sorted(counts.items()):
        if action is Action.WARN:
            warnings.append(f"Contains {entity_phrase(kind, count)}.")

    eligible = eligible_backends(category, given.backends, today=given.today)
    if not eligible and to_a_model:
        return _block(
            level,
            f"No approved backend is available for {_label(category)} right now; nothing was sent.",
        )
    replaced = [
        (kind, count)
        for (action, kind), count in sorted(counts.items())
        if action is Action.PSEUDONYMISE
    ]
    going = ""  # what will be replaced on its way to a backend
    going_kinds: tuple[str, ...] = ()
    if replaced:
        listed = _capital(", ".join(entity_phrase(kind, count) for kind, count in replaced))
        if to_a_model:
            going = listed
            going_kinds = tuple(kind for kind, _count in replaced)
            reasons.append(_replacement_reason(listed, eligible[0].name))
        else:
            reasons.append(f"{listed} would be replaced in a message.")
    if level != given.chosen:
        outcome = Outcome.ESCALATE
    elif spans:
        outcome = Outcome.PSEUDONYMISE
    else:
        outcome = Outcome.ALLOW
    return Decision(
        outcome=outcome,
        category=level,
        backends=tuple(b.key for b in eligible),
        redact=tuple(_merge(spans)),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        replaced=going,
        replaced_kinds=going_kinds,
    )


def _moved_and_blocked(category: CategorySpec, which: str, grounds: list[str]) -> str:
    """Why a message a rule moved up is blocked: its category named once, then the rules."""
    return f"Blocked: this is {_label(category)} material, {which}: {'; '.join(grounds)}."


def _replacement_reason(listed: str, backend_name: str) -> str:
    return f"{listed} will be replaced before sending to {backend_name}."


#: The reasons that say, before sending, what will be replaced: what
#: :func:`_replacement_reason` and a pseudonymising rule's reason say.
_WILL_BE_REPLACED = re.compile(
    r"(?P<what>\d+ [^,“]+(?:, \d+ [^,“]+)*) will be replaced(?P<rest> before sending to .*)"
    r"|(?P<matches>\d+ match(?:es)? of rule “[^”]*”) will be replaced(?P<why>: .*)",
    re.DOTALL,
)


def reason_once_sent(reason: str) -> str:
    """A reason recorded with a message, as it reads once the message has gone: "1 email
    address will be replaced before sending to X." (the preview's words) → "1 email address
    was replaced before sending to X."; any other reason as it is."""
    said = _WILL_BE_REPLACED.fullmatch(reason)
    if said is None:
        return reason
    what = said["what"] or said["matches"]
    one = what.startswith("1 ") and "," not in what.split("“")[0]
    return f"{what} {'was' if one else 'were'} replaced{said['rest'] or said['why']}"


def eligible_backends(
    category: CategorySpec, backends: tuple[BackendSpec, ...], *, today: dt.date
) -> list[BackendSpec]:
    """Backends that may serve the category, in preference order."""
    fit = [
        b
        for b in backends
        if b.enabled
        and category.number in b.approvals
        and not unmet_requirements(category, b, today=today)
    ]
    return sorted(fit, key=lambda b: (b.approvals[category.number], b.name))


def _decided(
    category: CategorySpec, findings: Sequence[FindingLike], shadowed: Sequence[FindingLike]
) -> tuple[dict[tuple[Action, str], int], list[Span]]:
    """How many findings of each type take each action in ``category``, and what is replaced.

    A finding of the scanner's ``shadowed``, hidden under one of its ``findings``, is
    decided too: a block or a warning names its own type, and where it is replaced,
    or the finding over it is, the strictest action wins and the replacement covers
    both, counted as the finding kept (a codename inside an e-mail address the matrix
    allows replaces the address).
    """
    counts: dict[tuple[Action, str], int] = {}
    spans: list[Span] = []
    hidden = [category.action_for(f.type) for f in shadowed]
    overlaps = _overlaps(findings, shadowed) if shadowed else None
    settled: set[int] = set()  # hidden findings replaced with the finding over them
    for k, finding in enumerate(findings):
        action = category.action_for(finding.type)
        under = overlaps[k] if overlaps else ()
        if action is Action.PSEUDONYMISE or (
            under
            and action is not Action.BLOCK
            and any(hidden[i] is Action.PSEUDONYMISE for i in under)
        ):
            action = Action.PSEUDONYMISE
            spans.append(Span(finding.start, finding.end, finding.type))
            for i in under:
                if hidden[i] is Action.PSEUDONYMISE:
                    spans.append(Span(shadowed[i].start, shadowed[i].end, finding.type))
                if hidden[i] is not Action.BLOCK:  # a block still blocks
                    settled.add(i)
        counts[(action, finding.type)] = counts.get((action, finding.type), 0) + 1
    for i, (f, action) in enumerate(zip(shadowed, hidden, strict=True)):
        if i not in settled:
            counts[(action, f.type)] = counts.get((action, f.type), 0) + 1
            if action is Action.PSEUDONYMISE:
                spans.append(Span(f.start, f.end, f.type))
    return counts, spans


def _overlaps(findings: Sequence[FindingLike], others: Sequence[FindingLike]) -> list[list[int]]:
    """For each finding, the indexes of the ``others`` that overlap it.

    The scanner's findings never overlap, so each other finding overlaps a run of
    them found by bisection; any other input is searched the long way.
    """
    under: list[list[int]] = [[] for _ in findings]
    order = sorted(range(len(findings)), key=lambda k: findings[k].start)
    starts = [findings[k].start for k in order]
    ends = [findings[k].end for k in order]
    disjoint = all(end <= start for end, start in zip(ends, starts[1:]))
    for i, other in enumerate(others):
        first = bisect_right(ends, other.start) if disjoint else 0
        for n in range(first, bisect_left(starts, other.end)):
            if ends[n] > other.start:
                under[order[n]].append(i)
    return under


def _merge(spans: list[Span]) -> list[Span]:
    """Sorted spans, overlaps folded into the earlier one."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.start, max(last.end, span.end), last.type)
        else:
            merged.append(span)
    return merged


def _block(level: int, reason: str) -> Decision:
    return Decision(outcome=Outcome.BLOCK, category=level, reasons=(reason,))


def _label(category: CategorySpec) -> str:
    return f"category {category.number} ({category.name})"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _a(words: str) -> str:
    """The article before ``words`` ("an on-premise", "a private cloud")."""
    return "an" if words[0] in "aeiou" else "a"
