"""Records of processing (GDPR Art. 30(1)), generated from the live policy.

The controller and its data protection officer come from ``STEWARD_PRIVACY_CONTACT``
(unset: a gap to fix). Then one record per active category: why messages of that category
are processed (the category's description), about whom, what personal data they may carry
and how it leaves (the category's finding matrix, in words), who receives it (the backends
that serve the category, with who runs them, where, and the safeguard for a transfer
outside the EU/EEA), how long it is kept, and what Steward does to protect it. Two more
records cover what Steward keeps for itself: the audit trail and the staff accounts.

A model that is not on our own premises and not in a region inside the EU/EEA (or has no
region recorded) must record who runs it and the transfer's safeguard: where either is
missing the record shows a gap, so the officer sees what to fix. The quick-reference cards
read the same cached policy the chat decides with, so a record never disagrees with where a
message actually goes; a changed approval shows at the next read.
"""

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings

from audit.exports import BOM, defuse
from audit.personal import retention_in_words
from governance.models import Backend, HostingClass
from governance.policy import Action
from governance.policy_cache import read_version
from governance.simulation import policy_snapshot
from privacy.models import ARCHIVE_KEEP_DAYS
from privacy.transparency import NAMES_CAVEAT, names_hidden
from training.cards import Card, cards

#: What Steward itself does to protect what it processes (Art. 30(1)(g), Art. 32), the same
#: for every category.
SECURITY_MEASURES = (
    "Encryption at rest: each conversation's text is sealed with a key of its own.",
    "Pseudonymisation: the personal data Steward recognises (email addresses, phone numbers, "
    "card and account numbers, identifiers; names only after a title or on a protected-term "
    "list) is replaced by placeholders before a message leaves, where the category's rules "
    "say so; what it does not recognise is sent as written.",
    "Audit trail: an append-only record of who sent which category of message to which "
    "model, and when (never the text).",
    "Access control: people use only the categories they are cleared for; each other role "
    "sees only what it needs.",
)

#: How a finding leaves, per action of the finding matrix.
HOW_IT_LEAVES = {
    Action.ALLOW: "In clear",
    Action.WARN: "In clear, after a warning",
    Action.PSEUDONYMISE: "Pseudonymised when recognised",
    Action.BLOCK: "Blocked when recognised (the message is not sent)",
}

NOTHING_SENT = "None: every message is blocked, and nothing is sent or stored."
NOT_RECORDED = "Not recorded"
ON_PREMISE_PROCESSOR = "The organisation itself"
NO_SAFEGUARD = "None recorded"
NOT_A_TRANSFER = "Not a transfer: the organisation's own servers"

#: Whom a chat message is about (Art. 30(1)(c)).
CHAT_SUBJECTS = (
    "Staff who use Steward",
    "People their messages mention, such as customers, colleagues and contacts",
)

NO_PROCESSOR_GAP = "no processor recorded"
NO_SAFEGUARD_GAP = "no transfer safeguard recorded"

CSV_COLUMNS = (
    "Processing activity",
    "Category",
    "Purpose",
    "Data subjects",
    "Data categories",
    "Recipient",
    "Processor",
    "Hosting",
    "Region",
    "Transfer safeguard",
    "Transfer gap",
    "Retention",
    "Security measures",
    "Controller and data protection officer",
)


@dataclass(frozen=True)
class Recipient:
    """A backend that receives the category's messages, as the record names it."""

    name: str
    processor: str
    hosting: str
    region: str
    safeguard: str
    #: What must be recorded before this transfer is documented (empty: nothing).
    gaps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Record:
    """One processing activity's record: a category's chat messages, or what Steward keeps
    for itself."""

    category: str
    purpose: str
    data: list[str]
    recipients: list[Recipient]
    retention: str
    activity: str = "Chat"
    subjects: tuple[str, ...] = CHAT_SUBJECTS
    #: Who receives the data, in words, for a record no model receives.
    recipients_note: str = ""


#: The audit trail, as governance.receivers and the chat write it (privacy.transparency
#: tells staff the same). Nothing prunes it: the database refuses every DELETE.
AUDIT_TRAIL = Record(
    activity="Audit trail",
    category="",
    purpose="Showing that Steward's rules are followed, and investigating incidents: who did "
    "what in Steward, and when.",
    subjects=(
        "Staff who use Steward",
        "People a data-subject request is about (by a keyed hash, not by name)",
    ),
    data=[
        "Who did what and when: the person's name or email address, the action and what it "
        "was about",
        "Sign-ins and failed sign-ins: the IP address",
        "Each message and answer: its category and model, sizes and timings, and the kinds of "
        "personal data found; never the text",
    ],
    recipients=[],
    recipients_note="No one outside the organisation: auditors read and export it; policy "
    "admins see totals from it.",
    retention=retention_in_words(),
)

#: The staff accounts (governance.models.User, with allauth's sign-in methods).
STAFF_ACCOUNTS = Record(
    activity="Staff accounts",
    category="",
    purpose="Letting staff sign in, and using only the categories they are cleared for.",
    subjects=("Staff who use Steward",),
    data=[
        "Name and email address",
        "Roles and clearances (the categories each person may use)",
        "Password (as a hash), two-factor methods and API tokens",
        "Policy acknowledgements and quiz results",
    ],
    recipients=[],
    recipients_note="No one outside the organisation, except the mail server that sends "
    "invitations and password resets, and the single sign-on provider if one is set.",
    retention="While the account exists, deactivated or not; an erasure request removes its "
    "name, email address, roles and sign-in methods.",
)


#: The privacy desk's own processing (privacy.models): requests and holds.
PRIVACY_DESK = Record(
    activity="Data-subject requests and legal holds",
    category="",
    purpose="Answering people's requests to see or erase their data (GDPR Art. 15 and 17, "
    "CCPA), and keeping what a legal claim or obligation needs kept (legal holds).",
    subjects=(
        "People who ask: staff, and outside people such as customers",
        "Staff and conversations a legal hold is placed on",
    ),
    data=[
        "The identifiers a request names (email address, phone number, name): sealed, and "
        "dropped when it closes; their keyed hashes are kept",
        "Where the answer goes, until the person is recorded as told",
        "The officers' note (dropped when it closes), and the reason for an extension or a "
        "rejection",
        f"Access copies: the person's data as found, kept {ARCHIVE_KEEP_DAYS} days after the "
        "request completed",
        "Legal holds: whom or what they keep, and why",
    ],
    recipients=[],
    recipients_note="No one outside the organisation: privacy officers; the person receives "
    "their copy and the answer.",
    retention="A request's record (reference, dates, steps, keyed hashes, receipt) without a "
    "time limit, as evidence of the answer; a legal hold's record once released too.",
)


def controller() -> str:
    """The controller's and its data protection officer's names and contact details (Art.
    30(1)(a)): ``STEWARD_PRIVACY_CONTACT``, which the access copies name too. Empty: not
    recorded, a gap."""
    return settings.STEWARD_PRIVACY_CONTACT


#: The records of what Steward keeps for itself, whatever the policy says.
OWN_RECORDS = (AUDIT_TRAIL, STAFF_ACCOUNTS, PRIVACY_DESK)


def records() -> list[Record]:
    """Every record: the active categories', then the audit trail's and the staff accounts'."""
    return [*category_records(), *OWN_RECORDS]


def category_records() -> list[Record]:
    """The records for the active categories, in category order."""
    all_cards = cards()
    specs = policy_snapshot(read_version()).categories
    served_by = {route.name for card in all_cards for route in card.routes}
    backends = {b.name: b for b in Backend.objects.filter(name__in=served_by)}
    return [
        Record(
            category=f"{card.category.number} · {card.category.name}",
            purpose=card.category.description.strip() or card.category.summary,
            data=_data_in_words(card, names_hidden(specs[card.category.number])),
            recipients=[_recipient(route, backends.get(route.name)) for route in card.routes],
            retention=card.kept,
        )
        for card in all_cards
    ]


def _data_in_words(card: Card, hides_names: bool) -> list[str]:
    """What personal data the category lets through, one line per way it leaves: "In clear:
    links", "Pseudonymised when recognised: email addresses, …", and where the category
    replaces or blocks names, which names Steward recognises."""
    if card.blocked:
        return [NOTHING_SENT]
    lines = [
        f"{HOW_IT_LEAVES[action]}: {', '.join(labels)}"
        for action, labels in card.grouped_findings()
    ]
    return [*lines, NAMES_CAVEAT] if hides_names else lines


def _recipient(route, backend: Backend | None) -> Recipient:
    on_premise = backend is not None and backend.hosting_class == HostingClass.ON_PREM
    processor = backend.processor if backend else ""
    if not processor:
        processor = ON_PREMISE_PROCESSOR if on_premise else NOT_RECORDED
    safeguard = backend.transfer_safeguard if backend else ""
    return Recipient(
        name=route.name,
        processor=processor,
        hosting=route.hosting,
        region=route.region or NOT_RECORDED,
        safeguard=safeguard or (NOT_A_TRANSFER if on_premise else NO_SAFEGUARD),
        gaps=transfer_gaps(backend) if backend else [NO_PROCESSOR_GAP, NO_SAFEGUARD_GAP],
    )


def models_with_gaps(found: list[Record]) -> dict[str, list[str]]:
    """Each model whose transfer has a gap, once, with its gaps."""
    return {r.name: r.gaps for record in found for r in record.recipients if r.gaps}


def transfer_gaps(backend: Backend) -> list[str]:
    """What the backend must record before sending it data is documented: who runs it and
    the transfer's safeguard, unless it is on our premises or in the EU/EEA. A private cloud
    counts: its provider runs the machines, in the region named."""
    if not is_transfer(backend):
        return []
    gaps = []
    if not backend.processor:
        gaps.append(NO_PROCESSOR_GAP)
    if not backend.transfer_safeguard:
        gaps.append(NO_SAFEGUARD_GAP)
    return gaps


#: Cloud regions in Europe but outside the EU/EEA: London and Zurich (AWS, Google).
_EUROPE_OUTSIDE_EEA = frozenset({"eu-west-2", "eu-central-2", "europe-west2", "europe-west6"})
#: Azure's regions in the EU/EEA, which it names without dashes.
_AZURE_EEA = frozenset(
    {
        "westeurope", "northeurope", "francecentral", "francesouth", "germanywestcentral",
        "germanynorth", "swedencentral", "swedensouth", "italynorth", "polandcentral",
        "spaincentral", "norwayeast", "norwaywest", "austriaeast", "belgiumcentral",
        "denmarkeast", "finlandcentral", "greececentral",
    }
)  # fmt: skip


def is_transfer(backend: Backend) -> bool:
    """Whether what ``backend`` receives leaves the EU/EEA: it is not on the organisation's
    own servers, and its region is not surely inside (:func:`in_eu_eea`)."""
    return backend.hosting_class != HostingClass.ON_PREM and not in_eu_eea(backend.region)


def in_eu_eea(region: str) -> bool:
    """Whether a backend's region (free text) is surely inside the EU/EEA: "eu", "eea", an
    AWS ``eu-…`` or Google ``europe-…`` region other than London's and Zurich's, or an Azure
    EU/EEA region. Anything else, an empty region included, counts as outside: a false gap
    costs the officer a look, a missed one a transfer nobody documented."""
    region = region.strip().lower()
    if region in _EUROPE_OUTSIDE_EEA:
        return False
    return (
        region in ("eu", "eea", "eu/eea")
        or region.startswith(("eu-", "europe-"))
        or region in _AZURE_EEA
    )


def records_csv(found: list[Record]) -> str:
    """The records as CSV: one row per processing activity and recipient (a record no
    model receives has one row, its recipient in words and the other recipient cells empty),
    so a spreadsheet can filter by either. Every row names the controller ("Not recorded"
    when unset) and its transfer gaps. Cells a spreadsheet would run as a formula are
    defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    measures = " ".join(SECURITY_MEASURES)
    named = controller() or NOT_RECORDED
    for record in found:
        common = (
            record.activity,
            record.category,
            record.purpose,
            "; ".join(record.subjects),
            "; ".join(record.data),
        )
        for sent_to in _recipient_cells(record):
            row = (*common, *sent_to, record.retention, measures, named)
            writer.writerow([defuse(cell) for cell in row])
    return BOM + buffer.getvalue()


def _recipient_cells(record: Record) -> list[tuple[str, ...]]:
    """The recipient's cells of each of the record's rows, its transfer gaps included."""
    if not record.recipients:
        return [(record.recipients_note, "", "", "", "", "")]
    return [
        (r.name, r.processor, r.hosting, r.region, r.safeguard, "; ".join(r.gaps))
        for r in record.recipients
    ]
