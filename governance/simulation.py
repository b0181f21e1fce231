"""Policy snapshots from the database, and the simulator built on them.

The engine (governance.policy.decide) is pure; this module is where the
database state it reasons about is read, once per decision.
"""

from dataclasses import dataclass

from django.utils import timezone

from governance.detection import detect
from governance.models import Approval, Backend, Category, User
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
from governance.scanning import ScanResult

SPEC_FIELDS = (*ROUTING_FIELDS, "finding_actions")
BACKEND_FIELDS = (*BACKEND_ATTRIBUTE_FIELDS, "enabled")


def policy_input(
    *, user: User, chosen: int, scan_result: ScanResult, rule_hits: tuple[RuleHit, ...] = ()
) -> PolicyInput:
    """Everything decide() needs, read in four queries."""
    categories = {
        c.number: CategorySpec(
            number=c.number, name=c.name, **{f: getattr(c, f) for f in SPEC_FIELDS}
        )
        for c in Category.objects.filter(is_active=True)
    }
    approvals: dict[int, dict[int, int]] = {}
    for backend_id, number, preference in Approval.objects.values_list(
        "backend_id", "category__number", "preference"
    ):
        approvals.setdefault(backend_id, {})[number] = preference
    backends = tuple(
        BackendSpec(
            key=str(b.public_id),
            name=b.name,
            approvals=approvals.get(b.pk, {}),
            **{f: getattr(b, f) for f in BACKEND_FIELDS},
        )
        for b in Backend.objects.all()
    )
    cleared = frozenset(Category.objects.cleared_for(user).values_list("number", flat=True))
    return PolicyInput(
        cleared=cleared,
        chosen=chosen,
        categories=categories,
        backends=backends,
        findings=scan_result.findings,
        rule_hits=rule_hits,
        today=timezone.localdate(),
    )


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str | None = None  # the finding type, or None for plain text
    redacted: bool = False


@dataclass(frozen=True)
class Simulation:
    scan: ScanResult
    decision: Decision
    segments: tuple[Segment, ...]
    backend_names: tuple[str, ...]


def simulate(*, user: User, chosen: int, text: str) -> Simulation:
    """What would happen to ``text`` sent by ``user`` in category ``chosen``; nothing is sent."""
    detection = detect(text)
    result = detection.scan
    decision = decide(
        policy_input(user=user, chosen=chosen, scan_result=result, rule_hits=detection.rule_hits)
    )
    names = {str(key): name for key, name in Backend.objects.values_list("public_id", "name")}
    return Simulation(
        scan=result,
        decision=decision,
        segments=tuple(_segments(text, result, decision)),
        backend_names=tuple(names.get(key, key) for key in decision.backends),
    )


def _segments(text: str, result: ScanResult, decision: Decision):
    redacted = {(span.start, span.end) for span in decision.redact}
    position = 0
    for finding in result.findings:
        if finding.start > position:
            yield Segment(text[position : finding.start])
        covered = any(a <= finding.start and finding.end <= b for a, b in redacted)
        yield Segment(text[finding.start : finding.end], str(finding.type), covered)
        position = finding.end
    if position < len(text):
        yield Segment(text[position:])
