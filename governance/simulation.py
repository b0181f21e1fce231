"""Policy snapshots from the database, and the simulator built on them.

The engine (governance.policy.decide) is pure; this module is where the
database state it reasons about is read. Each process keeps that state as an
immutable :class:`PolicySnapshot` and reads it again only after a change (see
:mod:`governance.policy_cache`), so a decision costs one query: the version
check, which also brings the sender's groups.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from django.utils import timezone

from governance.detection import detect
from governance.models import Approval, Backend, Category, Clearance, User
from governance.policy import (
    BACKEND_ATTRIBUTE_FIELDS,
    ROUTING_FIELDS,
    BackendSpec,
    CategorySpec,
    Decision,
    PolicyInput,
    RuleHit,
    decide,
)
from governance.policy_cache import Version, cached, read_version
from governance.scanning import ScanResult

#: The longest message anyone may send (chat, /v1), and so the longest the simulator checks.
MAX_MESSAGE_CHARS = 32_000
SPEC_FIELDS = (*ROUTING_FIELDS, "finding_actions")
BACKEND_FIELDS = (*BACKEND_ATTRIBUTE_FIELDS, "enabled")


def policy_input(
    *,
    user: User,
    chosen: int,
    scan_result: ScanResult,
    rule_hits: tuple[RuleHit, ...] = (),
    version: Version | None = None,
) -> PolicyInput:
    """Everything decide() needs: the cached policy, and the user's clearances from it.

    ``version``: a reading of the version *with this user's groups* that the
    caller already made (saves a round trip).
    """
    user_id = user.pk if user.is_authenticated else None
    version = version or read_version(user_id)
    policy = policy_snapshot(version)
    return PolicyInput(
        cleared=policy.cleared(user_id, version.group_ids),
        chosen=chosen,
        categories=policy.categories,
        backends=policy.backends,
        findings=scan_result.findings,
        shadowed=scan_result.shadowed,
        rule_hits=rule_hits,
        today=timezone.localdate(),  # never cached: a DPA expires at midnight
    )


@dataclass(frozen=True)
class PolicySnapshot:
    """The policy tables as the engine needs them; read-only, so threads share it."""

    #: Active categories by number.
    categories: Mapping[int, CategorySpec]
    backends: tuple[BackendSpec, ...]
    #: Active category number -> (ids of the groups cleared for it, ids of the users).
    clearances: Mapping[int, tuple[frozenset[int], frozenset[int]]]

    def cleared(self, user_id: int | None, group_ids: frozenset[int]) -> frozenset[int]:
        """The numbers ``Category.objects.cleared_for(user)`` would give."""
        if user_id is None:
            return frozenset()
        return frozenset(
            number
            for number, (groups, users) in self.clearances.items()
            if user_id in users or not groups.isdisjoint(group_ids)
        )


def policy_snapshot(version: Version) -> PolicySnapshot:
    """The policy as of ``version``: this process's copy, or a fresh reading (four queries)."""
    return cached("policy", version, _read_policy)


def _read_policy() -> PolicySnapshot:
    categories = {c.number: _category_spec(c) for c in Category.objects.filter(is_active=True)}
    approvals: dict[int, dict[int, int]] = {}
    for backend_id, number, preference in Approval.objects.values_list(
        "backend_id", "category__number", "preference"
    ):
        approvals.setdefault(backend_id, {})[number] = preference
    backends = tuple(
        BackendSpec(
            key=str(b.public_id),
            name=b.name,
            approvals=MappingProxyType(approvals.get(b.pk, {})),
            **{f: getattr(b, f) for f in BACKEND_FIELDS},
        )
        for b in Backend.objects.all()
    )
    cleared: dict[int, tuple[set[int], set[int]]] = {}
    for number, group_id, user_id in Clearance.objects.filter(category__is_active=True).values_list(
        "category__number", "group_id", "user_id"
    ):
        groups, users = cleared.setdefault(number, (set(), set()))
        if group_id is not None:
            groups.add(group_id)
        if user_id is not None:
            users.add(user_id)
    return PolicySnapshot(
        categories=MappingProxyType(categories),
        backends=backends,
        clearances=MappingProxyType(
            {n: (frozenset(groups), frozenset(users)) for n, (groups, users) in cleared.items()}
        ),
    )


def _category_spec(category: Category) -> CategorySpec:
    values = {f: getattr(category, f) for f in SPEC_FIELDS}
    values["allowed_hosting_classes"] = tuple(values["allowed_hosting_classes"])
    values["allowed_regions"] = tuple(values["allowed_regions"])
    values["finding_actions"] = MappingProxyType(dict(values["finding_actions"]))
    return CategorySpec(number=category.number, name=category.name, **values)


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str | None = None  # the finding type or "rule <name>", or None for plain text
    redacted: bool = False


@dataclass(frozen=True)
class Simulation:
    scan: ScanResult
    decision: Decision
    segments: tuple[Segment, ...]
    backend_names: tuple[str, ...]

    @property
    def marked(self) -> int:
        """How many findings and rule matches the text shows."""
        return sum(1 for segment in self.segments if segment.kind)


def simulate(*, user: User, chosen: int, text: str) -> Simulation:
    """What would happen to ``text`` sent by ``user`` in category ``chosen``; nothing is sent."""
    detection = detect(text)
    result = detection.scan
    given = policy_input(
        user=user, chosen=chosen, scan_result=result, rule_hits=detection.rule_hits
    )
    decision = decide(given)
    names = {backend.key: backend.name for backend in given.backends}
    return Simulation(
        scan=result,
        decision=decision,
        segments=tuple(_segments(text, result, detection.rule_hits, decision)),
        backend_names=tuple(names.get(key, key) for key in decision.backends),
    )


def _segments(text: str, result: ScanResult, rule_hits: tuple[RuleHit, ...], decision: Decision):
    """The text cut at what the scanner found and the rules matched; where two overlap,
    the one starting first is shown."""
    redacted = {(span.start, span.end) for span in decision.redact}
    marks = [(f.start, f.end, str(f.type)) for f in result.findings]
    marks += [(start, end, f"rule {hit.name}") for hit in rule_hits for start, end in hit.spans]
    position = 0
    for start, end, kind in sorted(marks):
        if start < position:
            continue
        if start > position:
            yield Segment(text[position:start])
        covered = any(a <= start and end <= b for a, b in redacted)
        yield Segment(text[start:end], kind, covered)
        position = end
    if position < len(text):
        yield Segment(text[position:])
