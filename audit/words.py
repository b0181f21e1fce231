"""An audit event's recorded settings in words: the keys and values of its before, after and
details as a person reads them. The trail's event page and the policy console's history cards
both say them here, so a setting reads the same on both.

``kind`` is what the event is about, as the trail stores it (``target_type``, e.g.
"governance.category"): a setting its edit form labels is named by that label, and a value
its model offers as a choice ("external_api") by the choice's label ("External API").
"""

from functools import cache

from django.apps import apps
from django.utils.text import capfirst

from governance.forms import BackendForm, CategoryForm, RuleForm, TermListForm
from governance.policy import HOSTING_LABELS, finding_name

#: What an empty value reads as, and a setting that was not set before (or is gone after).
EMPTY = "—"

#: Setting names no edit form gives, as a person reads them.
KEY_WORDS = {
    "is_active": "Switched on",
    "enabled": "Enabled",
    "term_count": "Number of terms",
    "terms replaced": "Terms replaced",
    "credential changed": "Key replaced",
    "finding_actions": "What findings do",
    "category_number": "Category level",
    "chars": "Characters",
    "findings": "Found",
    "replaced": "Replaced",
    "ip": "IP address",
    "message": "Message ID",
    "kept_checkpoints": "Checkpoints in the file",
    "checked": "Events checked",
}
#: Names that only fit one kind of target.
KIND_KEY_WORDS = {
    ("governance.category", "is_active"): "In use (not retired)",
    ("governance.user", "is_active"): "Account active",
}
#: The forms that edit each kind of target: their labels name its settings.
SETTING_FORMS = {
    form._meta.model._meta.label_lower: form
    for form in (BackendForm, CategoryForm, RuleForm, TermListForm)
}
#: Values named by labels wherever they are recorded (a chat request's details have a
#: hosting class, a category's settings a list of them), not only as a model's choices.
VALUE_LABELS = {
    "hosting_class": HOSTING_LABELS,
    "allowed_hosting_classes": HOSTING_LABELS,
}
#: Settings whose keys are finding types: {type: count}, or {type: action} for a category.
FINDING_COUNTS = {"findings", "replaced"}
FINDING_KEYED = {"finding_actions"}


def setting_name(key: str, kind: str = "") -> str:
    """A recorded setting's name as the page that edits it says it ("retention_days" →
    "Keep conversations for (days)"), else in plain words ("latency_ms" → "Latency (ms)")."""
    if said := KIND_KEY_WORDS.get((kind, key)):
        return said
    form = SETTING_FORMS.get(kind)
    field = form.base_fields.get(key) if form else None
    if field is not None and field.label:
        return str(field.label)
    if key in KEY_WORDS:
        return KEY_WORDS[key]
    words = capfirst(key.removesuffix("_ms").replace("_", " ").strip())
    return f"{words} (ms)" if key.endswith("_ms") else words


def value_in_words(key: str, value, kind: str = "") -> str:
    """A recorded value as a person reads it (the exact JSON is the trail's to show)."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        return _dict_in_words(key, value)
    if isinstance(value, list):
        return ", ".join(value_in_words(key, item, kind) for item in value)
    if isinstance(value, str):
        return _value_labels(kind).get(key, {}).get(value, value)
    return str(value)


def _dict_in_words(key: str, value: dict) -> str:
    if key in FINDING_COUNTS:
        return ", ".join(f"{finding_name(kind)} × {count}" for kind, count in value.items())
    if key in FINDING_KEYED:
        return "; ".join(f"{finding_name(kind)}: {said}" for kind, said in value.items())
    return "; ".join(f"{setting_name(k)}: {value_in_words(k, v)}" for k, v in value.items())


@cache
def _value_labels(kind: str) -> dict[str, dict[str, str]]:
    """Each setting's values and their labels: VALUE_LABELS, and the choices of ``kind``'s
    model (none when the model is gone: the trail outlives it)."""
    try:
        model = apps.get_model(kind)
    except (LookupError, ValueError):
        return VALUE_LABELS
    choices = {
        field.name: {str(value): str(label) for value, label in field.flatchoices}
        for field in model._meta.get_fields()
        if getattr(field, "choices", None)
    }
    return VALUE_LABELS | choices


def in_words(recorded, kind: str = "") -> list[tuple[str, str]]:
    """Before, after or details as (name, value) pairs, by key (PostgreSQL keeps no order of
    its own, and the exact JSON beside them is sorted so)."""
    if not isinstance(recorded, dict):  # every writer records an object; the trail outlives them
        return [("Value", value_in_words("", recorded, kind))]
    return [
        (setting_name(key, kind), value_in_words(key, value, kind))
        for key, value in sorted(recorded.items())
    ]


def changed_settings(before, after, kind: str = "") -> list[tuple[str, str, str]]:
    """Each setting an event changed as (name, before, after) in words; one empty on both
    sides (a new object's unset field) is left out."""
    before, after = before or {}, after or {}
    changes = [
        (
            setting_name(key, kind),
            value_in_words(key, before.get(key), kind),
            value_in_words(key, after.get(key), kind),
        )
        for key in dict.fromkeys([*before, *after])
    ]
    return [change for change in changes if change[1:] != (EMPTY, EMPTY)]


def without_blocked(reason: object) -> str:
    """A blocked message's reason as the policy recorded it ("Blocked: X may not be sent
    in Y."), without its "Blocked:" label: for a page or an export that says "blocked"
    itself. Anything else is returned as it is, trimmed."""
    return str(reason).strip().removeprefix("Blocked:").strip()


def why_blocked(details) -> str:
    """Why a blocked request was blocked, as the policy told its sender: the recorded
    ``reasons`` (older events: one ``reason``), without the "Blocked: " each starts with.
    The findings alone can mislead: a prohibited message that also held an email address
    was blocked for its category, not for the address. Empty when nothing was recorded."""
    if not isinstance(details, dict):
        return ""
    said = details.get("reasons") or details.get("reason") or []
    said = [said] if isinstance(said, str) else said if isinstance(said, list) else []
    sentences = []
    for reason in said:
        text = without_blocked(reason)
        if text:
            sentences.append(capfirst(text))
    return " ".join(sentences)
