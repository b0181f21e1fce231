"""Records of processing (GDPR Art. 30(1)), generated from the live policy.

One record per active category: why messages of that category are processed (the
category's description), what personal data they may carry and how it leaves (the
category's finding matrix, in words), who receives it (the backends that serve the
category, with who runs them, where, and the safeguard for a transfer outside the
EU/EEA), how long it is kept, and what Steward does to protect it. The quick-reference
cards read the same cached policy the chat decides with, so a record never disagrees with
where a message actually goes; a changed approval shows at the next read.
"""

import csv
import io
from dataclasses import dataclass

from audit.exports import BOM, defuse
from governance.models import Backend, HostingClass
from governance.policy import Action
from training.cards import Card, cards

#: What Steward itself does to protect what it processes (Art. 30(1)(g), Art. 32), the same
#: for every category.
SECURITY_MEASURES = (
    "Encryption at rest: each conversation's text is sealed with a key of its own.",
    "Pseudonymisation: personal data the category's rules name is replaced by placeholders "
    "before a message leaves.",
    "Audit trail: an append-only record of who sent which category of message to which "
    "model, and when (never the text).",
    "Access control: people use only the categories they are cleared for; each other role "
    "sees only what it needs.",
)

#: How a finding leaves, per action of the finding matrix.
HOW_IT_LEAVES = {
    Action.ALLOW: "In clear",
    Action.WARN: "In clear, after a warning",
    Action.PSEUDONYMISE: "Pseudonymised",
    Action.BLOCK: "Never sent (the message is blocked)",
}

NOTHING_SENT = "None: every message is blocked, and nothing is sent or stored."
NOT_RECORDED = "Not recorded"
ON_PREMISE_PROCESSOR = "The organisation itself"
NO_SAFEGUARD = "None recorded"

CSV_COLUMNS = (
    "Category",
    "Purpose",
    "Data categories",
    "Recipient",
    "Processor",
    "Hosting",
    "Region",
    "Transfer safeguard",
    "Retention",
    "Security measures",
)


@dataclass(frozen=True)
class Recipient:
    """A backend that receives the category's messages, as the record names it."""

    name: str
    processor: str
    hosting: str
    region: str
    safeguard: str


@dataclass(frozen=True)
class Record:
    """One category's record of processing."""

    category: str
    purpose: str
    data: list[str]
    recipients: list[Recipient]
    retention: str


def records() -> list[Record]:
    """The records for the active categories, in category order."""
    all_cards = cards()
    served_by = {route.name for card in all_cards for route in card.routes}
    backends = {b.name: b for b in Backend.objects.filter(name__in=served_by)}
    return [
        Record(
            category=f"{card.category.number} · {card.category.name}",
            purpose=card.category.description.strip() or card.category.summary,
            data=_data_in_words(card),
            recipients=[_recipient(route, backends.get(route.name)) for route in card.routes],
            retention=card.kept,
        )
        for card in all_cards
    ]


def _data_in_words(card: Card) -> list[str]:
    """What personal data the category lets through, one line per way it leaves: "In clear:
    people's names, links", "Pseudonymised: email addresses, …"."""
    if card.blocked:
        return [NOTHING_SENT]
    return [
        f"{HOW_IT_LEAVES[action]}: {', '.join(labels)}"
        for action, labels in card.grouped_findings()
    ]


def _recipient(route, backend: Backend | None) -> Recipient:
    processor = backend.processor if backend else ""
    if not processor:
        on_premise = backend is not None and backend.hosting_class == HostingClass.ON_PREM
        processor = ON_PREMISE_PROCESSOR if on_premise else NOT_RECORDED
    return Recipient(
        name=route.name,
        processor=processor,
        hosting=route.hosting,
        region=route.region or NOT_RECORDED,
        safeguard=(backend.transfer_safeguard if backend else "") or NO_SAFEGUARD,
    )


def records_csv(found: list[Record]) -> str:
    """The records as CSV: one row per category and recipient (a category no model
    receives has one row, its recipient cells empty), so a spreadsheet can filter by
    either. Cells a spreadsheet would run as a formula are defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    measures = " ".join(SECURITY_MEASURES)
    for record in found:
        common = (record.category, record.purpose, "; ".join(record.data))
        recipients = record.recipients or [None]
        for r in recipients:
            sent_to = (r.name, r.processor, r.hosting, r.region, r.safeguard) if r else ("",) * 5
            row = (*common, *sent_to, record.retention, measures)
            writer.writerow([defuse(cell) for cell in row])
    return BOM + buffer.getvalue()
