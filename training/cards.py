"""Quick-reference cards, generated from the live policy.

What belongs in a category (its summary and the do / don't examples the
policy admins keep on the category), which models may answer it and where
they run, how long content is kept, and what Steward does with each kind of
finding. Everything comes from the same cached policy the chat decides with,
so a card never disagrees with what happens when a message is sent.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from governance.forms import finding_rows
from governance.models import Category, HostingClass
from governance.policy import (
    CONFIDENTIAL_LEVEL,
    MATRIX_ACTIONS,
    PROHIBITED_LEVEL,
    Action,
    CategorySpec,
    eligible_backends,
    hosting_name,
    in_a_sentence,
)
from governance.policy_cache import read_version
from governance.simulation import policy_snapshot

#: What an action means for the person writing (finding matrix → plain words).
ACTION_WORDS = {
    Action.ALLOW: "sent as written",
    Action.WARN: "sent, with a warning",
    Action.PSEUDONYMISE: "replaced by a placeholder",
    Action.BLOCK: "message blocked",
}


@dataclass(frozen=True)
class Route:
    """A model that may answer the category, in the order it is tried."""

    name: str
    hosting: str
    region: str


@dataclass(frozen=True)
class Finding:
    label: str
    action: Action

    @property
    def words(self) -> str:
        return ACTION_WORDS[self.action]

    @property
    def short(self) -> str:
        """The label inside a sentence: "email addresses", but "IBANs" and "IP addresses"."""
        return in_a_sentence(self.label)


@dataclass(frozen=True)
class Card:
    """One category's quick-reference card."""

    category: Category
    do: list[str]
    dont: list[str]
    where: str
    rules: list[str]
    routes: list[Route]
    kept: str
    findings: list[Finding]

    @property
    def blocked(self) -> bool:
        return self.category.blocks_all or self.category.number >= PROHIBITED_LEVEL

    def grouped_findings(self) -> list[tuple[Action, list[str]]]:
        """Findings by action, strictest first (the overview card's short form)."""
        groups: dict[Action, list[str]] = {}
        for finding in self.findings:
            groups.setdefault(finding.action, []).append(finding.short)
        return sorted(groups.items(), key=lambda item: -MATRIX_ACTIONS.index(item[0]))


def cards(categories: Iterable[Category] | None = None) -> list[Card]:
    """Cards for the active categories (or those of the given ones), in category order."""
    if categories is None:
        categories = Category.objects.filter(is_active=True).order_by("number")
    snapshot = policy_snapshot(read_version())
    today = timezone.localdate()
    result = []
    for category in categories:
        spec = snapshot.categories.get(category.number)
        if spec is None:
            continue  # inactive: no card
        routes = [
            Route(b.name, hosting_name(b.hosting_class), b.region)
            for b in eligible_backends(spec, snapshot.backends, today=today)
        ]
        result.append(
            Card(
                category=category,
                do=_lines(category.do_examples),
                dont=_lines(category.dont_examples),
                where=_where(spec, routes),
                rules=_rules(spec),
                routes=routes,
                kept=_kept(category),
                findings=_findings(spec),
            )
        )
    return result


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _where(spec: CategorySpec, routes: list[Route]) -> str:
    if spec.blocks_all or spec.number >= PROHIBITED_LEVEL:
        return "Nowhere. Steward blocks the message and records the attempt."
    if spec.number >= CONFIDENTIAL_LEVEL:
        return "Only models on our own infrastructure (on-premise or private cloud)."
    allowed = spec.allowed_hosting_classes
    if allowed and set(HostingClass.values) - set(allowed):
        labels = [hosting_name(h) for h in allowed]
        return f"Only {_join(labels)} models the company has chosen for it."
    if not routes:
        return "Only a model the company has chosen for it, and none is available now."
    return f"Any of the models the company has chosen for it: {_join([r.name for r in routes])}."


def _rules(spec: CategorySpec) -> list[str]:
    if spec.blocks_all or spec.number >= PROHIBITED_LEVEL:
        return []
    rules = []
    if spec.forbid_training:
        rules.append("never a model that trains on what it is sent")
    if spec.forbid_consumer_products:
        rules.append("no consumer chat products")
    if spec.require_zero_retention:
        rules.append("only providers that keep nothing (zero data retention)")
    if spec.allowed_regions:
        rules.append(f"only in {_join(list(spec.allowed_regions))}")
    if spec.require_dpa:
        rules.append("third-party providers need a signed data processing agreement")
    return rules


def _kept(category: Category) -> str:
    if category.blocks_all:
        return "Never stored: only the size of the attempt and the reasons are recorded."
    if category.retention_days is None:
        return "Conversations are not stored."
    days = category.retention_days
    return f"{days} day{'s' if days != 1 else ''} after the last message, then deleted for good."


def _findings(spec: CategorySpec) -> list[Finding]:
    findings = []
    for _name, label, kinds in finding_rows():
        # Several national identifiers share a row: show the strictest of their actions.
        action = max((spec.action_for(k) for k in kinds), key=MATRIX_ACTIONS.index)
        findings.append(Finding(label=label, action=action))
    return findings


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]
