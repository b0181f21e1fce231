"""What an access copy tells the person besides their data (GDPR Art. 15(1)–(2), CCPA's
right to know): who answers for it, why Steward holds it, what kinds of data it is, where it
came from, who received it and how, where they run, how long it is kept, whether anything
is decided about the person automatically, and what they may ask for next.

A person outside the organisation (a request with no account) is spoken to as one: the
staff who wrote about them are not their colleagues, nor its privacy team theirs."""

from django.conf import settings

from audit import personal
from governance.models import Backend, Category, HostingClass
from governance.policy import ENTITY_NAMES, NATIONAL_ID_NAMES, hosting_name
from privacy.models import SubjectRequest

PURPOSES = [
    "Steward is the company's gateway to language models (AI assistants). It checks each "
    "message before it leaves, replaces personal data it recognises with placeholders, and "
    "sends it only to the models the message's category allows.",
    "It keeps conversations for their category's retention period so that their authors can "
    "come back to them, and an audit trail of who sent which category of message to which "
    "model, and when (never the text), to show that the rules were followed.",
]

SOURCES = {
    "conversations": "You wrote these messages; the answers came from the model named.",
    "mentions": "Colleagues wrote these messages, which name you or an identifier of yours, "
    "and the models answered them.",
    "account": "Your account, clearances and training records come from the company's "
    "administrators and from what you did in Steward.",
}
#: Where the mentions came from, told to someone outside the organisation.
OUTSIDER_MENTIONS = (
    "People at the organisation wrote these messages, which name you or an identifier of "
    "yours, and the models answered them."
)

#: Who answers for the data when no contact is configured (STEWARD_PRIVACY_CONTACT): as a
#: sentence, and as whom to write to.
NO_CONTACT = {
    "staff": ("Your company's privacy team (the people who sent you this copy).",
              "your company's privacy team"),
    "outsider": ("The privacy team of the organisation that sent you this copy.",
                 "the privacy team of the organisation that sent you this copy"),
}  # fmt: skip

#: What else the copy holds on a staff member besides identifiers (Art. 15(1)(b)).
ACCOUNT_CATEGORIES = [
    "your account: email address, name, roles and sign-in dates",
    "what you wrote to the AI models and their answers",
    "training records: policy acknowledgements and quiz answers",
    "the names and dates of your API tokens",
    "a record of what you did in Steward (never the text of messages)",
]

#: GDPR Art. 15(1)(h) and Art. 22.
AUTOMATED_DECISIONS = (
    "Steward makes no decisions with legal or similarly significant effects about you, and "
    "no profile of you. It classifies each message by what it holds, and that classification "
    "only routes them: it decides which models may receive a message, whether personal data "
    "in it is replaced by placeholders first, and whether it is sent at all."
)

#: Where a backend records no safeguard for transfers outside the EU/EEA (Art. 15(2), 46).
NO_SAFEGUARD_RECORDED = (
    "Steward records no transfer safeguard for this model; the transfer safeguard is "
    "documented by the organisation's privacy team, who can give you a copy."
)

#: The safeguard of an on-premise model: the data never left the organisation.
NOT_A_TRANSFER = (
    "none needed: it runs on the organisation's own servers, so nothing was transferred"
)

#: Who runs an on-premise model whose backend names no processor.
ON_PREMISE_PROCESSOR = "the organisation itself, on its own servers"

#: Identifier kinds the categories name otherwise than the findings do.
KIND_WORDS = {"PERSON": "name", "OTHER": "another identifier you gave"}

RIGHTS = {
    SubjectRequest.Regime.GDPR: [
        "to have inaccurate data corrected (Art. 16) and to have it erased (Art. 17)",
        "to restrict its processing (Art. 18) and to object to it (Art. 21)",
        "to receive it in a machine-readable form: data.json in this archive (Art. 20)",
        "to lodge a complaint with a data protection supervisory authority, in particular "
        "where you live or work (Art. 77)",
    ],
    SubjectRequest.Regime.CCPA: [
        "to know what is held about you (this copy) and to have it corrected or deleted",
        "to opt out of its sale or sharing: Steward neither sells nor shares it",
        "not to be treated differently for using these rights",
    ],
}

AUDIT_RETENTION = (
    "The audit trail (what was sent where and when, never the text) is append-only. "
    "{retention} Ask {whom} how long the organisation keeps it."
)


def about(request: SubjectRequest, recipients: list[dict], *, kinds: set[str]) -> dict:
    """The information the copy gives beside the data, for ``data.json`` and the summary;
    ``recipients`` as :func:`privacy.scope.recipients` found them for the receipt, ``kinds``
    the finding types of the person's identifiers in the messages the copy holds."""
    contact = settings.STEWARD_PRIVACY_CONTACT
    staff = request.subject_user_id is not None
    answers_for_it, write_to = NO_CONTACT["staff" if staff else "outsider"]
    told = recipients_told(recipients)
    return {
        "contact": contact,
        "answers_for_it": contact or answers_for_it,
        "write_to": contact or write_to,
        "purposes": PURPOSES,
        "sources": SOURCES if staff else {"mentions": OUTSIDER_MENTIONS},
        "categories": {
            "identifiers": sorted({kind_in_words(kind) for kind in kinds}),
            "records": ACCOUNT_CATEGORIES if staff else [],
        },
        "recipients": told,
        "transfers": transfers_told(told),
        "automated_decisions": AUTOMATED_DECISIONS,
        "retention": _retention(),
        "audit_retention": AUDIT_RETENTION.format(
            retention=personal.retention_in_words(), whom=contact or write_to
        ),
        "rights": RIGHTS.get(request.regime, RIGHTS[SubjectRequest.Regime.GDPR]),
    }


def transfers_told(told: list[dict]) -> list[dict]:
    """Per model that received the person's data: who runs it and the safeguard for sending
    it outside the EU/EEA, as the backend records them (Art. 15(2)); looked up by the name
    the trail gives, as :func:`recipients_told` does. A backend that records neither is told
    with the wording that sends the person to the privacy team."""
    recorded = {
        name: (processor, safeguard)
        for name, processor, safeguard in Backend.objects.values_list(
            "name", "processor", "transfer_safeguard"
        )
    }
    transfers = []
    for entry in told:
        processor, safeguard = recorded.get(entry["backend"], ("", ""))
        transfers.append(
            {
                "backend": entry["backend"],
                "processor": processor or _no_processor(entry["hosting"]),
                "hosting": entry["hosting"],
                "region": entry["region"] or "not recorded",
                "safeguard": safeguard or _no_safeguard(entry["hosting"]),
            }
        )
    return transfers


def _no_safeguard(hosting: str) -> str:
    if hosting == hosting_name(HostingClass.ON_PREM):
        return NOT_A_TRANSFER
    return NO_SAFEGUARD_RECORDED


def _no_processor(hosting: str) -> str:
    """Who runs a model whose backend names no processor: an on-premise one is the
    organisation's own; of any other, Steward does not know."""
    if hosting == hosting_name(HostingClass.ON_PREM):
        return ON_PREMISE_PROCESSOR
    return "not recorded"


def kind_in_words(kind: str) -> str:
    """An identifier's finding type as the copy names it: "EMAIL_ADDRESS" → "email address",
    "PERSON" → "name", "UK_NINO" → "UK National Insurance number"."""
    if kind in KIND_WORDS:
        return KIND_WORDS[kind]
    if kind in ENTITY_NAMES:
        return ENTITY_NAMES[kind][0]
    return NATIONAL_ID_NAMES.get(kind, "identifier")


def recipients_told(found: list[dict]) -> list[dict]:
    """The models that received the person's data, where they run and what their provider
    keeps (a backend renamed since keeps its old name in the trail, and is told as such)."""
    kept = dict(Backend.objects.values_list("name", "provider_retention_days"))
    return [
        {
            "backend": entry["backend"],
            "hosting": hosting_name(entry["hosting_class"]),
            "region": entry["region"],
            "calls": entry["calls"],
            "in_clear": entry.get("in_clear"),
            "how_sent": _how_sent(entry["calls"], entry.get("in_clear"), entry.get("unchecked")),
            "provider_keeps": _provider_keeps(kept.get(entry["backend"], "unknown")),
        }
        for entry in found
    ]


def _how_sent(calls: int, in_clear: int | None, unchecked: int | None = None) -> str:
    """Of the messages a model received with the person's data, how many carried it as
    written (in clear), how many with placeholders in its place, and of how many that is
    not known (their text is not kept); "" where the trail of an older request did not
    count them."""
    if in_clear is None or not calls:
        return ""
    if unchecked:
        if unchecked == calls:
            return _all_of(calls, "whose text we do not keep: we cannot tell how it held your data")
        replaced = calls - in_clear - unchecked
        counted = [
            f"{in_clear} with your data in clear" if in_clear else "",
            f"{replaced} with {'it' if in_clear else 'your data'} replaced by placeholders"
            if replaced
            else "",
            f"{unchecked} whose text we do not keep, so we cannot tell",
        ]
        return f"{calls} messages: " + "; ".join(filter(None, counted))
    if in_clear == 0:
        return _all_of(calls, "with your data replaced by placeholders")
    if in_clear == calls:
        return _all_of(calls, "with your data in clear")
    return (
        f"{in_clear} of {calls} messages with your data in clear; "
        f"{calls - in_clear} with it replaced by placeholders"
    )


def _all_of(calls: int, how: str) -> str:
    return f"the one message {how}" if calls == 1 else f"all {calls} messages {how}"


def _provider_keeps(days) -> str:
    if days == "unknown":
        return "no longer configured in Steward"
    if days is None:
        return "not stated by the provider"
    if days == 0:
        return "nothing (zero data retention)"
    return f"up to {days} day{'s' if days != 1 else ''}"


def _retention() -> list[dict]:
    """How long each category keeps a conversation's text."""
    rows = []
    for category in Category.objects.filter(is_active=True).order_by("number"):
        if category.blocks_all:
            kept = "never sent nor stored"
        elif category.retention_days is None:
            kept = "not stored: shown only while the answer arrives"
        else:
            days = category.retention_days
            kept = f"{days} day{'s' if days != 1 else ''} after the conversation's last message"
        rows.append({"category": f"{category.number} · {category.name}", "kept": kept})
    return rows
