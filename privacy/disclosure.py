"""What an access copy tells the person besides their data (GDPR Art. 15(1)–(2), CCPA's
right to know): who answers for it, why Steward holds it, where it came from, who received
it, how long it is kept, and what they may ask for next."""

from django.conf import settings

from governance.models import Backend, Category
from governance.policy import hosting_name
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
    "mentions": "Colleagues wrote these messages, which name you or an identifier of yours.",
    "account": "Your account, clearances and training records come from the company's "
    "administrators and from what you did in Steward.",
}

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
    "The audit trail (what was sent where and when, never the text) is append-only: Steward "
    "sets no time limit on it. Ask the contact above how long the company keeps it."
)


def about(request: SubjectRequest, recipients: list[dict]) -> dict:
    """The information the copy gives beside the data, for ``data.json`` and the summary;
    ``recipients`` as :func:`privacy.scope.recipients` found them for the receipt."""
    return {
        "contact": settings.STEWARD_PRIVACY_CONTACT,
        "purposes": PURPOSES,
        "sources": SOURCES,
        "recipients": recipients_told(recipients),
        "retention": _retention(),
        "audit_retention": AUDIT_RETENTION,
        "rights": RIGHTS.get(request.regime, RIGHTS[SubjectRequest.Regime.GDPR]),
    }


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
            "provider_keeps": _provider_keeps(kept.get(entry["backend"], "unknown")),
        }
        for entry in found
    ]


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
