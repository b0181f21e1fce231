"""The steps a message goes through, whoever sends it (:mod:`chat.services.sending`): the
policy's gate, scan and decide, lock the conversation, pseudonymise, hold in transit, index
its subjects, and record the request; with the refusals they make (:class:`ChatError`)."""

import logging
from collections import Counter
from collections.abc import Callable, Sequence

from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import pseudonym, record
from audit.writes import Writes
from chat import streams, transient
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import Pseudonymiser, canonical
from chat.services.routing import active_categories
from config.rows import Prebuilt
from governance.detection import Detection, detect
from governance.models import Backend, Category, User
from governance.policy import Decision, Span, decide
from governance.policy_cache import Version
from governance.simulation import MAX_MESSAGE_CHARS, policy_input
from training.services import needs_acknowledgement

logger = logging.getLogger(__name__)
USER = Message.Role.USER.value

TITLE_CHARS = 80
#: Found identifiers that are not about a person: not written to the subject index.
NOT_SUBJECTS = frozenset({"SECRET", "URL"})
#: Between the parts of a message sent in several parts (the API's system, user and
#: assistant messages): they are scanned, decided on and stored as one text.
PART_SEPARATOR = "\n\n"


class ChatError(Exception):
    """A request the chat refuses; the message is shown to the person who asked."""


class AcknowledgementRequired(ChatError):
    """The sender must first acknowledge the current policy document (see training)."""

    def __init__(self) -> None:
        super().__init__("Read and acknowledge the current policy before you chat.")


def _require_acknowledgement(user: User, version: Version) -> None:
    if needs_acknowledgement(user, version):
        raise AcknowledgementRequired


def _locked_tail(*, idle: bool) -> Callable[[], str]:
    def tail() -> str:
        lock = " FOR UPDATE OF c" if connection.features.has_select_for_update_of else ""
        quiet = (
            f" AND NOT EXISTS (SELECT 1 FROM {Message._meta.db_table} m "
            f"WHERE m.conversation_id = c.id AND m.status IN {_IN_FLIGHT})"
            if idle
            else ""
        )
        return (
            f"{Conversation._meta.db_table} c JOIN {Category._meta.db_table} k "
            f"ON k.id = c.category_id WHERE c.id = %s{quiet}{lock}"
        )

    return tail


_IN_FLIGHT = tuple(str(status) for status in Message.IN_FLIGHT)
_LOCKED = Prebuilt([(Conversation, "c"), (Category, "k")], _locked_tail(idle=False))
_LOCKED_IDLE = Prebuilt([(Conversation, "c"), (Category, "k")], _locked_tail(idle=True))


STILL_ON_ITS_WAY = "An answer is still on its way: wait for it, or stop it first."


def _locked(conversation: Conversation, *, idle: bool = False) -> Conversation:
    """The conversation, fresh and locked until the end of the transaction (its category
    comes along, unlocked): two messages sent at once take turns.

    ``idle``: refuse if an answer is still on its way, in the same statement. On
    PostgreSQL that statement reads with the snapshot it took before waiting for
    the lock, so the second of two messages sent at once may not see the first's
    answer: the database's constraint refuses its own then (``chat_one_answer_in_flight``,
    see :func:`chat.services.sending._govern_and_record`).
    """
    found = (_LOCKED_IDLE if idle else _LOCKED).one([conversation.pk])
    if found is None:
        if idle and Conversation.objects.filter(pk=conversation.pk).exists():
            raise ChatError(STILL_ON_ITS_WAY)
        raise Conversation.DoesNotExist
    fresh, fresh.category = found
    fresh._key = conversation.key  # the data key does not change; it is opened once
    if Conversation.owner.is_cached(conversation):
        fresh.owner = conversation.owner  # the answer's audit events name it
    return fresh


def _pseudonymise(
    conversation: Conversation,
    message: Message,
    parts: Sequence[tuple[str, str]],
    decision: Decision,
) -> tuple[Counter, bool, tuple[tuple[str, str], ...]]:
    """Set on ``message`` what the backend gets (kept only where it differs from what was
    written) and what was replaced; the conversation's mapping takes any new placeholder.

    ``decision.redact`` holds spans of the parts joined by :data:`PART_SEPARATOR`;
    each part is pseudonymised with the spans that fall in it, so one value gets
    one placeholder in every part. Returns the count per type, whether the
    mapping grew (the caller saves it), and the parts as the backend gets them.
    """
    pseudonymiser = Pseudonymiser(conversation.pseudonyms())
    replaced: Counter = Counter()
    outgoing = []
    offset = 0
    for role, content in parts:
        end = offset + len(content)
        spans = [
            Span(max(s.start, offset) - offset, min(s.end, end) - offset, s.type)
            for s in decision.redact
            if s.start < end and s.end > offset
        ]
        sent, counts = pseudonymiser.apply(content, spans)
        replaced.update(counts)
        outgoing.append((role, sent))
        offset = end + len(PART_SEPARATOR)
    text = PART_SEPARATOR.join(content for _, content in parts)
    sent_text = PART_SEPARATOR.join(sent for _, sent in outgoing)
    message.sent_sealed = b""
    if sent_text != text:
        message.sent_text = sent_text
    message.replaced = dict(replaced)
    if pseudonymiser.changed:
        conversation.set_pseudonyms(pseudonymiser.mapping)
    return replaced, pseudonymiser.changed, tuple(outgoing)


def _keeps_content(conversation: Conversation, decision: Decision, version: Version) -> bool:
    """Whether the message's text is stored: its category (after any escalation) keeps it."""
    if decision.category == conversation.category.number:
        return conversation.category.stores_content
    return active_categories(version)[decision.category].stores_content


def _hold_in_transit(conversation: Conversation, answer: Message, outgoing, mapping) -> None:
    try:
        transient.keep(conversation, answer.public_id, outgoing, mapping)
    except transient.TransientUnavailable:
        raise ChatError(
            f"{conversation.category.name} keeps no content, so Steward holds the message only "
            "in its queue, which is down: nothing was sent or kept. Try again in a moment."
        ) from None


#: The refusal of a message past :data:`MAX_MESSAGE_CHARS`. The message box says it too, before
#: a paste of megabytes is posted: it gets these words, placeholders and all (``data-too-long``,
#: from :func:`chat.context_processors.limits`) and fills in the numbers as :func:`clean_text` does.
TOO_LONG = (
    "That message is {count} characters; the limit is {limit}. "
    "Split it, or send the part that matters."
)


def clean_text(text: str) -> str:
    """The message with its line ends normalised and trimmed; ChatError if it is empty or too
    long to send."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ChatError("Write a message first.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ChatError(TOO_LONG.format(count=f"{len(text):,}", limit=f"{MAX_MESSAGE_CHARS:,}"))
    return text


def _clean_parts(parts: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Each part's line ends normalised and empty parts dropped; the whole is checked as one."""
    cleaned = tuple(
        (role, content.replace("\r\n", "\n").strip())
        for role, content in parts
        if content and content.strip()
    )
    clean_text(PART_SEPARATOR.join(content for _, content in cleaned))
    return cleaned


def _govern(
    *, conversation: Conversation, author: User, text: str, version: Version
) -> tuple[Detection, Decision]:
    """Scan and decide; a scanner that fails stops the message (fail closed).

    ``version`` is the message's one reading of the policy version (with the
    author's groups): it serves the gate, the detectors, the decision and the
    backend pick.
    """
    try:
        detection = detect(text, version=version)
    except Exception as exc:
        logger.exception("scanner failed on a message in %s", conversation.public_id)
        record(
            action=AuditEvent.Action.CHAT_FAILURE,
            actor=author,
            target=conversation,
            outcome=AuditEvent.Outcome.FAILURE,
            category=conversation.category.name,
            details={"stage": "scan", "error": type(exc).__name__, "chars": len(text)},
        )
        raise ChatError(
            "Steward could not check this message, so it was not sent. Try again; if it "
            "keeps happening, tell your policy admin."
        ) from None
    decision = decide(
        policy_input(
            user=author,
            chosen=conversation.category.number,
            scan_result=detection.scan,
            rule_hits=detection.rule_hits,
            version=version,
        )
    )
    return detection, decision


def _counts(detection: Detection) -> dict[str, int]:
    """What was found, by type; a rule that matched as "rule <name>" (the compliance report
    counts blocks by it: a block by a rule alone was counted under no type)."""
    counts = Counter(str(f.type) for f in detection.scan.findings)
    counts.update(f"rule {hit.name}" for hit in detection.rule_hits)
    return dict(counts)


def title_from(text: str) -> str:
    """A conversation's title taken from its first message: the start of its one line, cut
    between words and never inside a placeholder ("ring [phon…" read as a broken title)."""
    first = " ".join(text.split())
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[: TITLE_CHARS - 1]
    if cut.rfind("[") > cut.rfind("]"):
        cut = cut[: cut.rfind("[")]
    elif first[len(cut)] != " ":
        cut = cut[: cut.rfind(" ") + 1]
    # One word longer than a title has no boundary to cut at.
    cut = cut.rstrip(" ,;:") or first[: TITLE_CHARS - 1]
    return cut + "…"


def subject_digests(text: str, detection: Detection) -> dict[str, str]:
    """The keyed hash of every identifier about a person found in ``text``, with its kind."""
    digests = {}
    for finding in detection.scan.findings:
        kind = str(finding.type)
        if kind in NOT_SUBJECTS:
            continue
        value = canonical(kind, text[finding.start : finding.end])
        digests[pseudonym(value)] = kind
    return digests


def _index_subjects(message: Message, text: str, detection: Detection, writes: Writes) -> None:
    """Every identifier found, as a keyed hash pointing at this message."""
    digests = subject_digests(text, detection)
    if not digests:
        return
    now = timezone.now()
    for digest, kind in digests.items():
        writes.insert(
            SubjectMention(
                digest=digest,
                kind=kind,
                conversation=message.conversation,
                message=message,
                created_at=now,
            )
        )


def _record_request(
    message: Message,
    decision: Decision,
    *,
    backend: Backend | None,
    author: User,
    replaced: Counter | None = None,
    retry: bool = False,
    via: dict | None = None,
) -> None:
    """The ``chat.request`` event (shape documented on :class:`audit.models.AuditEvent`).

    It names the category the message was decided in: the conversation's, or the one a
    rule raised it to (a blocked message leaves its conversation where it was)."""
    category = message.conversation.category
    if decision.category != category.number:
        category = Category.objects.filter(number=decision.category).first() or category
    details = {
        "category_number": decision.category,
        "decision": str(decision.outcome),
        "hosting_class": backend.hosting_class if backend else "",
        "region": backend.region if backend else "",
        "findings": message.findings,
        "replaced": dict(replaced or {}),
        "chars": message.chars,
        "message": str(message.public_id),
    }
    if retry:
        details["retry"] = True
    if via:
        details.update(via)
    if decision.blocked:
        details["reasons"] = list(decision.reasons)
    record(
        action=AuditEvent.Action.CHAT_REQUEST,
        actor=author,
        target=message.conversation,
        outcome=AuditEvent.Outcome.BLOCKED if decision.blocked else AuditEvent.Outcome.SUCCESS,
        category=category.name,
        backend=backend.name if backend else "",
        details=details,
    )


def _forget_quietly(*message_ids, stopping=()) -> None:
    try:
        streams.forget(*message_ids, stopping=stopping)
    except Exception:  # a stream left behind expires on its own
        logger.warning("could not drop the streams of %d messages", len(message_ids))
