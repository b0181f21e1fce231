"""What the "How Steward uses your data" page tells everyone who signs in (GDPR Art. 13).

Staff are told how Steward itself processes *their* data: how long each category keeps a
conversation, which models may receive it and whether the personal data in it is replaced
by placeholders first, what the audit trail records about them and for how long, who can
read what, and where to use their rights. Wherever Steward holds the fact, the page reads
it from the live policy (the same cached snapshot the chat decides with, through the
training cards), so the notice changes when the policy does.
"""

from dataclasses import dataclass

from django.conf import settings

from governance.forms import finding_rows
from governance.models import Backend, Category, HostingClass
from governance.policy import (
    HARMLESS_TYPES,
    MATRIX_ACTIONS,
    SECRET_TYPES,
    Action,
    BackendSpec,
    CategorySpec,
    in_a_sentence,
)
from governance.policy_cache import read_version
from governance.simulation import policy_snapshot
from training.cards import Card, Route, cards

#: Whom to write to when ``STEWARD_PRIVACY_CONTACT`` is not set.
NO_CONTACT = "the privacy team"

#: The scanner finds a person's name only after a title ("Dr Jane Roe",
#: ``governance.scanning.names``) or on a protected-term list: a name written bare goes out
#: as written, whatever the category does with names. Said wherever names are replaced.
NAMES_CAVEAT = (
    "Names are recognised only after a title (Dr Jane Roe) or on a protected-term list; "
    "any other name is sent as written."
)

_SIZES_AND_TIMINGS = (
    "chars", "input_tokens", "output_tokens", "first_token_ms", "duration_ms", "cancelled",
    "finish", "stage", "kind", "error", "status", "code",
)  # fmt: skip

#: What the audit trail records about a message you send and the answer to it, in words,
#: with the ``details`` keys each line accounts for: those of ``chat.request``
#: (``chat.services.steps._record_request``), ``chat.response`` and ``chat.failure``
#: (``chat.answering``). A key the chat starts to store must be told here (a test checks).
MESSAGE_RECORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Who sent it (your account) and when", ()),  # the event's actor and time
    (
        "Its category, and the model it went to: where that model runs and in which region",
        ("category_number", "hosting_class", "region"),
    ),
    (
        "What Steward decided (sent as written, sent with placeholders, category raised, or "
        "blocked) and why it blocked a message",
        ("decision", "reasons", "retry"),
    ),
    (
        "Which kinds of personal data or secrets were found and how many (“2 email "
        "addresses”), and which were replaced; never the values",
        ("findings", "replaced"),
    ),
    (
        "Sizes and timings: how many characters and tokens, how long the answer took, and "
        "how it ended (or what went wrong, with the error code from the model provider)",
        _SIZES_AND_TIMINGS,
    ),
    ("Whether it came through the API, and with which token", ("via", "token")),
    ("A reference to the message, not its text", ("message",)),
)

#: What a sign-in event stores besides who and when (``governance.receivers``), in words.
SIGN_IN_RECORDS = {"ip": "the IP address you signed in from"}

#: The other things you do in Steward that the audit trail records.
OTHER_RECORDS = (
    "Starting, renaming, exporting and deleting a conversation (a new title's length, "
    "never the title)",
    "Password and two-factor changes, and API tokens created or revoked",
    "Policy acknowledgements and quiz results",
    "Requests you make on the Your data page",
)


@dataclass(frozen=True)
class Recipient:
    """A model that may answer the category, and what its provider keeps of what it is sent."""

    route: Route
    provider_keeps: str
    #: For a model outside the EU/EEA: the transfer's safeguard (GDPR Art. 13(1)(f)), or
    #: that none is recorded; "" on the organisation's own servers or in the EU/EEA.
    transfer: str = ""


@dataclass(frozen=True)
class CategoryUse:
    """What happens to a conversation in one category: kept how long, sent where, and how."""

    card: Card
    recipients: list[Recipient]
    replaced: list[str]
    in_clear: list[str]
    blocking: list[str]
    names_hidden: bool = False
    #: What the category does with the secrets and credentials Steward recognises.
    secrets: Action = Action.PSEUDONYMISE

    @property
    def category(self) -> Category:
        return self.card.category

    @property
    def personal_data(self) -> str:
        """The category's treatment of personal data in one phrase, for its badge."""
        if self.card.blocked:
            return "Never sent"
        if not self.in_clear:
            return "Pseudonymised when recognised"
        if not self.replaced and not self.blocking:
            return "Sent in clear"
        return "Partly in clear"

    @property
    def personal_data_words(self) -> list[str]:
        """What happens to the personal data Steward recognises in a message, in sentences."""
        if self.card.blocked:
            return ["Nothing is sent or stored: Steward blocks the message."]
        if not self.replaced and not self.blocking:
            return [
                "Sent as written (in clear): Steward replaces no personal data in this category.",
                *self._secrets_words,
            ]
        words = []
        if self.replaced:
            replaced = ", ".join(self.replaced)
            words.append(f"Replaced by placeholders when Steward recognises them: {replaced}.")
        if self.in_clear:
            words.append(f"Sent as written: {', '.join(self.in_clear)}.")
        if self.blocking:
            words.append(
                f"Blocks the message when Steward recognises them: {', '.join(self.blocking)}."
            )
        if self.names_hidden:
            words.append(NAMES_CAVEAT)
        return words

    @property
    def _secrets_words(self) -> list[str]:
        """Said where no personal data is replaced, lest "in clear" read as the secrets too."""
        if self.secrets is Action.BLOCK:
            return ["Steward still blocks the message when it recognises a secret or credential."]
        return ["Secrets and credentials are still replaced when Steward recognises them."]


def category_uses() -> list[CategoryUse]:
    """Each active category, as the training cards describe it, with who receives its
    personal data and in what form."""
    snapshot = policy_snapshot(read_version())
    backends = {backend.name: backend for backend in snapshot.backends}
    transfers = _transfers()
    uses = []
    for card in cards():
        spec = snapshot.categories[card.category.number]
        groups = _personal_data_groups(spec)
        uses.append(
            CategoryUse(
                card=card,
                recipients=[
                    Recipient(
                        route,
                        _provider_keeps(backends.get(route.name)),
                        transfers.get(route.name, ""),
                    )
                    for route in card.routes
                ],
                replaced=groups[Action.PSEUDONYMISE],
                in_clear=groups[Action.ALLOW] + groups[Action.WARN],
                blocking=groups[Action.BLOCK],
                names_hidden=names_hidden(spec),
                secrets=_strictest(spec, SECRET_TYPES),
            )
        )
    return uses


def names_hidden(spec: CategorySpec) -> bool:
    """Whether the category replaces or blocks the names Steward recognises."""
    return spec.action_for("PERSON") in (Action.PSEUDONYMISE, Action.BLOCK)


def _personal_data_groups(spec: CategorySpec) -> dict[Action, list[str]]:
    """The finding matrix's personal-data rows (not secrets, which are always replaced,
    nor links) by what the category does with them."""
    groups: dict[Action, list[str]] = {action: [] for action in MATRIX_ACTIONS}
    for _name, label, kinds in finding_rows():
        if set(kinds) & (SECRET_TYPES | HARMLESS_TYPES):
            continue
        action = _strictest(spec, kinds)
        groups[action].append(in_a_sentence(label))
    return groups


def _strictest(spec: CategorySpec, kinds) -> Action:
    """What the category does with findings of ``kinds``: the strictest of their actions."""
    return max((spec.action_for(kind) for kind in kinds), key=MATRIX_ACTIONS.index)


def _transfers() -> dict[str, str]:
    """Each model outside the EU/EEA (off the organisation's own servers), by name: its
    transfer safeguard in words, or that none is recorded (the records flag that gap)."""
    from privacy.records import is_transfer  # the records read this module's caveat

    return {
        backend.name: (
            f"sent outside the EU/EEA under: {backend.transfer_safeguard}"
            if backend.transfer_safeguard
            else "sent outside the EU/EEA; no transfer safeguard is recorded: ask "
            + privacy_contact()
        )
        for backend in Backend.objects.all()
        if is_transfer(backend)
    }


def _provider_keeps(backend: BackendSpec | None) -> str:
    if backend is None or backend.hosting_class == HostingClass.ON_PREM:
        return ""  # our own hardware: Steward's retention is the only one
    days = backend.provider_retention_days
    if days is None:
        return "the provider does not say how long it keeps what it is sent"
    if days == 0:
        return "the provider keeps nothing"
    return f"the provider keeps it up to {days} day{'s' if days != 1 else ''}"


def message_records() -> list[str]:
    return [words for words, _keys in MESSAGE_RECORDS]


def described_message_details() -> set[str]:
    """The ``details`` keys of a message's and an answer's events that the page accounts for."""
    return {key for _words, keys in MESSAGE_RECORDS for key in keys}


def privacy_contact() -> str:
    return settings.STEWARD_PRIVACY_CONTACT or NO_CONTACT
