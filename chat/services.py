"""The governed path of a message, independent of views (the chat page and the API share it).

scan → decide → record (one transaction: the user's message, the decision, the
pending answer and the audit event) → pseudonymise → queue. The worker side
(stream, finish) is in :mod:`chat.answering`.
"""

import copy
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import pseudonym, record
from audit.writes import Writes
from chat import streams, transient
from chat.models import Conversation, Message, SubjectMention
from chat.pseudonyms import Pseudonymiser, canonical, named
from chat.tasks import generate_answer
from config.broker import publish
from config.commits import may_skip_wait, unawaited
from config.prepared import hot_cursor
from config.rows import Prebuilt
from governance.detection import Detection, detect
from governance.models import Backend, Category, User
from governance.policy import Decision, Outcome, Span, decide, screen
from governance.policy_cache import Version, cached, read_version
from governance.simulation import (
    MAX_MESSAGE_CHARS,
    Simulation,
    policy_input,
    policy_snapshot,
    simulate,
)
from training.services import needs_acknowledgement

logger = logging.getLogger(__name__)
USER = Message.Role.USER.value

TITLE_CHARS = 80
#: Found identifiers that are not about a person: not written to the subject index.
NOT_SUBJECTS = frozenset({"SECRET", "URL"})
#: Between the parts of a message sent in several parts (the API's system, user and
#: assistant messages): they are scanned, decided on and stored as one text.
PART_SEPARATOR = "\n\n"
#: Why its owner cannot delete or rename a conversation a legal hold keeps: not "legal hold",
#: which would tell the person an investigation may be about that there is one.
HELD_FOR_NOW = "This conversation is kept by the privacy team for now:"


class ChatError(Exception):
    """A request the chat refuses; the message is shown to the person who asked."""


class AcknowledgementRequired(ChatError):
    """The sender must first acknowledge the current policy document (see training)."""

    def __init__(self) -> None:
        super().__init__("Read and acknowledge the current policy before you chat.")


def _require_acknowledgement(user: User, version: Version) -> None:
    if needs_acknowledgement(user, version):
        raise AcknowledgementRequired


@dataclass(frozen=True)
class Sent:
    """What became of a message: the stored turn, the answer on its way (if any), the decision."""

    message: Message
    answer: Message | None
    decision: Decision
    #: What the backend is given for this message, part by part: (role, text) with
    #: placeholders in place of what was replaced.
    outgoing: tuple[tuple[str, str], ...] = ()
    #: The placeholders' values the answer is restored with, when they are not the stored
    #: conversation's (a category that keeps no content stores none); else None.
    mapping: dict | None = None


def start_conversation(*, owner: User, category: Category) -> Conversation:
    """A new, empty conversation in a category the owner is cleared for."""
    conversation = _new_conversation(owner=owner, category=category)
    with transaction.atomic():
        _store_new(conversation)
    return conversation


def _new_conversation(
    *, owner: User, category: Category, version: Version | None = None
) -> Conversation:
    """An unsaved conversation, once the owner may start it (a refusal raises ChatError)."""
    version = version or read_version(owner.pk)
    _require_acknowledgement(owner, version)
    # The snapshot's clearances are for active categories only.
    if category.number not in policy_snapshot(version).cleared(owner.pk, version.group_ids):
        raise ChatError(f"You are not cleared for category {category.number} ({category.name}).")
    if category.blocks_all:
        raise ChatError(f"{category.name} material may not be sent to any model.")
    conversation = Conversation(owner=owner, category=category)
    conversation.init_key()
    return conversation


def _store_new(conversation: Conversation, writes: Writes | None = None) -> None:
    """Save a new conversation with its ``chat.started`` event (inside the caller's
    transaction), or add both to ``writes``."""
    if writes is None:
        conversation.save()
    else:
        writes.insert(conversation)
    record(
        action=AuditEvent.Action.CHAT_STARTED,
        actor=conversation.owner,
        target=conversation,
        category=conversation.category.name,
        details={"category_number": conversation.category.number},
    )


def send_message(*, conversation: Conversation, author: User, text: str) -> Sent:
    """Govern and store one message, and queue its answer if the policy lets it go.

    1. Refuse empty or oversized text, and a second message while an answer is
       on its way.
    2. Govern and record it (:func:`_govern_and_record`).
    3. After commit, hand the answer to the queue (see :func:`enqueue_answer`).

    Nothing is sent by someone who has yet to acknowledge the current policy.
    """
    version = read_version(author.pk)
    _require_acknowledgement(author, version)
    text = clean_text(text)
    sent = _govern_and_record(
        conversation=conversation, author=author, parts=((USER, text),), version=version
    )
    if sent.answer is not None:
        _enqueue_on_commit(sent.answer)
    return sent


def send_request(
    *,
    author: User,
    category: Category,
    parts: Sequence[tuple[str, str]],
    backend: Backend | None = None,
    via: dict | None = None,
    version: Version | None = None,
    sampling: dict | None = None,
) -> Sent:
    """A request that brings its own turns (the API): a new conversation, governed like chat.

    The conversation is stored in the same transaction as the request (one
    commit, and no empty conversation when the scanner fails).
    ``parts`` are (role, text) pairs, all of which would leave: they are scanned,
    decided on, recorded and pseudonymised as one message, in the same steps as
    :func:`send_message`. ``backend``, when given, is the only one the answer
    may come from (if the policy does not let it serve, the request is blocked,
    and recorded as such). The answer is claimed for the caller, which streams
    it in its own process (:func:`chat.answering.stream_answer`) and settles it
    (:func:`chat.answering.settle`); ``via`` goes into the audit event. ``version``: the
    caller's reading of the policy version with the author's groups, if it made one.
    ``sampling`` (:meth:`chat.llm.Sampling.to_store`) is kept with the answer, for
    whoever produces it.
    """
    parts = _clean_parts(parts)
    version = version or read_version(author.pk)
    conversation = _new_conversation(owner=author, category=category, version=version)
    return _govern_and_record(
        conversation=conversation,
        author=author,
        parts=parts,
        backend=backend,
        claim=True,
        via=via,
        version=version,
        sampling=sampling,
    )


def _govern_and_record(
    *,
    conversation: Conversation,
    author: User,
    parts: Sequence[tuple[str, str]],
    backend: Backend | None = None,
    claim: bool = False,
    via: dict | None = None,
    version: Version,
    sampling: dict | None = None,
) -> Sent:
    """The steps every message goes through, whoever sends it.

    1. Scan and decide. A scanner failure sends nothing (fail closed).
    2. Pseudonymise: what the decision says to replace becomes a placeholder.
    3. Store, all or nothing (:class:`audit.writes.Writes`): the message (a
       blocked one without its text), the pending answer (claimed, when the
       caller answers it itself), the subject-index rows and the audit events.
       If the audit write fails, nothing is stored and nothing is sent. A new
       conversation is stored with its first message, in one statement; so is a
       message in an existing one, on PostgreSQL, if the conversation is as it
       was read (:func:`_write_as_read`); else the conversation is locked first,
       in a transaction (:func:`_write_locked`).
    """
    text = PART_SEPARATOR.join(content for _, content in parts)

    def govern(conversation: Conversation) -> tuple[Detection, Decision]:
        detection, decision = _govern(
            conversation=conversation, author=author, text=text, version=version
        )
        return detection, _routed(decision, backend, version)

    def write(conversation: Conversation, governed, *, as_read: bool = False) -> Sent:
        return _write(
            conversation, *governed, as_read=as_read, author=author, parts=parts, text=text,
            claim=claim, via=via, version=version, sampling=sampling,
        )  # fmt: skip

    governed = govern(conversation)
    if conversation._state.adding:
        # A new conversation's rows and events are one statement, atomic by itself.
        sent = write(conversation, governed)
    else:
        sent = _write_as_read(conversation, governed, write)
        if sent is None:
            sent = _write_locked(conversation, governed, write, govern)
        _take_written(conversation, sent.message.conversation)
    if sent.answer is not None:
        # Django caches the answer on its question too (and again as the answer is saved):
        # the pair would be a reference cycle, freed only by the garbage collector.
        _QUESTIONS_ANSWER.delete_cached_value(sent.message)
        if claim and sent.answer.status == Message.Status.QUEUED:
            # The built-in model runs only in a worker: the caller follows its stream
            # instead (chat.answering.follow).
            _enqueue_on_commit(sent.answer)
    return sent


def _write(
    conversation: Conversation, detection: Detection, decision: Decision, *, as_read: bool,
    **recording,
) -> Sent:  # fmt: skip
    """Record the message (:func:`_record`) and write its rows and events, all or nothing.

    ``as_read``: the conversation's row is updated only if it is still as it was read, with
    no answer on its way (:func:`_as_read`); if not, nothing is written (IntegrityError).
    """
    condition = _as_read(conversation) if as_read else None
    writes = Writes()
    with writes.recording():
        sent = _record(conversation, detection=detection, decision=decision, writes=writes,
                       **recording)  # fmt: skip
    if condition is not None:
        writes.only_if(conversation, *condition)
    try:
        writes.write()
    except IntegrityError:
        if sent.answer is not None:
            transient.forget(sent.answer.public_id)  # held for it, if its category keeps none
        raise
    return sent


def _write_as_read(conversation: Conversation, governed, write) -> Sent | None:
    """A message in an existing conversation, the common case on PostgreSQL: one statement,
    no lock, written only if the conversation is as the caller read it and no answer is on
    its way. None if it was not (nothing written: :func:`_write_locked` takes over); a
    refusal if an answer is on its way."""
    if connection.vendor != "postgresql":
        return None
    try:
        # Inside a caller's transaction, the failed statement is undone to a savepoint.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            # A copy: what the attempt changes on it is not what the locked path reads.
            return write(copy.copy(conversation), governed, as_read=True)
    except IntegrityError:
        _refuse_if_in_flight(conversation)
        return None


def _write_locked(conversation: Conversation, governed, write, govern) -> Sent:
    """A message in an existing conversation, locked first, in a transaction: two messages
    sent at once take turns."""
    try:
        with transaction.atomic():
            fresh = _locked(conversation, idle=True)
            if fresh.category_id != conversation.category_id:
                # Moved up since it was read (a message sent meanwhile escalated it):
                # decided again in the category its history is in now.
                governed = govern(fresh)
            return write(fresh, governed)
    except IntegrityError:
        # Another message's answer got on its way while this one waited for the lock.
        _refuse_if_in_flight(conversation)
        raise


#: What a message may change in its conversation's row (:func:`_record`) and finds as read.
_MESSAGE_WRITES = ("last_activity_at", "category_id", "title_sealed", "pseudonyms_sealed")


def _take_written(conversation: Conversation, written: Conversation) -> None:
    """The caller's conversation as the message left it (written on a copy, or on a fresh
    read): a next message sent with it finds it as read."""
    for name in _MESSAGE_WRITES:
        setattr(conversation, name, getattr(written, name))
    if Conversation.category.is_cached(written):
        conversation.category = written.category


def _as_read(conversation: Conversation) -> tuple[str, list]:
    """The condition (SQL and parameters) under which a message's update of ``conversation``
    goes through: the columns a message reads and writes are as they were read, and no
    answer is on its way."""
    return _AS_READ, [*(getattr(conversation, name) for name in _MESSAGE_WRITES), *_IN_FLIGHT]


def _refuse_if_in_flight(conversation: Conversation) -> None:
    if conversation.messages.in_flight().exists():
        raise ChatError(STILL_ON_ITS_WAY) from None


def _enqueue_on_commit(answer: Message) -> None:
    queue, written_queued = queue_for(answer.backend), answer.status == Message.Status.QUEUED
    transaction.on_commit(lambda: enqueue_answer(answer.pk, queue, written_queued=written_queued))


def _record(
    conversation: Conversation,
    author: User,
    parts: Sequence[tuple[str, str]],
    text: str,
    detection: Detection,
    decision: Decision,
    writes: Writes,
    *,
    claim: bool,
    via: dict | None,
    version: Version,
    sampling: dict | None = None,
) -> Sent:
    """The rows and events of a governed message, added to ``writes``: the message (a
    blocked one without its text), the pending answer (claimed, when the caller answers it
    itself), the conversation (new, or what changed), the subject-index rows, the events."""
    new = conversation._state.adding
    now = timezone.now()
    message = Message(
        conversation=conversation,
        role=Message.Role.USER,
        created_at=now,
        category_number=decision.category,
        decision=str(decision.outcome),
        reasons=list(decision.reasons),
        warnings=list(decision.warnings),
        findings=_counts(detection),
    )
    if decision.blocked:
        if new:
            _store_new(conversation, writes)
        message.status = Message.Status.BLOCKED
        message.chars = len(text)  # the size is kept, never the text
        writes.insert(message)
        _record_request(message, decision, backend=None, author=author, via=via)
        return Sent(message=message, answer=None, decision=decision)

    message.status = Message.Status.SENT
    keeps = _keeps_content(conversation, decision, version)
    if keeps:
        message.content = text
    else:
        message.chars = len(text)  # only the size is stored; the text waits in Redis
    replaced, mapping_grew, outgoing = _pseudonymise(conversation, message, parts, decision)
    if keeps and [role for role, _ in outgoing] != [USER]:
        # A request's turns (the API's), kept apart in every later history as they were sent.
        message.parts = [[role, len(sent)] for role, sent in outgoing]
    mapping = None
    if not keeps:  # the mapping goes with the answer through Redis, never into a row
        message.sent_sealed = b""
        mapping_grew = False
        mapping = conversation.pseudonyms()
        if new:
            conversation.pseudonyms_sealed = b""
    chosen = backend_by_key(decision.backends[0], version)  # the one it was routed to
    changed = ["last_activity_at"]
    if mapping_grew:
        changed.append("pseudonyms_sealed")
    if decision.outcome is Outcome.ESCALATE:
        # The conversation now holds material of the higher category, and so
        # does every later call's history: it stays there.
        conversation.category = category_by_number(decision.category, version)
        changed.append("category")
    if keeps and not conversation.title_sealed:
        # What was replaced for the model is named, not shown: a title is on every list and
        # in the browser's tab and history.
        conversation.title = title_from(named(PART_SEPARATOR.join(sent for _, sent in outgoing)))
        changed.append("title_sealed")
    conversation.last_activity_at = now
    if new:
        _store_new(conversation, writes)  # one INSERT, with its title, mapping and first activity
    else:
        writes.update(conversation, changed)
    writes.insert(message)
    # The built-in model runs only in the inference_local worker, never in a web process.
    claim = claim and chosen.kind != Backend.Kind.BUILTIN
    answer = Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        reply_to=message,
        created_at=now,
        category_number=decision.category,
        backend=chosen,
        backend_name=chosen.name,
        sampling=sampling or {},
        # Written as queued (it is pushed once the row is committed): a statement less than
        # PENDING, then QUEUED once pushed; one never pushed is found by its missing mark.
        **(
            {"status": Message.Status.STREAMING, "started_at": now, "attempt": 1}
            if claim
            else {"status": Message.Status.QUEUED, "enqueued_at": now}
        ),
    )
    writes.insert(answer)
    if not keeps:
        _hold_in_transit(conversation, answer, outgoing, mapping)
    _index_subjects(message, text, detection, writes)
    _record_request(message, decision, backend=chosen, author=author, replaced=replaced, via=via)
    return Sent(
        message=message, answer=answer, decision=decision, outgoing=outgoing, mapping=mapping
    )


_QUESTIONS_ANSWER = Message._meta.get_field("answer")


def retry_answer(*, answer: Message, author: User) -> Message:
    """Ask again for an answer that failed or was stopped, under today's policy.

    The question is governed anew (the policy, the backends or their health
    may have changed since), so a retry can be refused where the first try was
    not. It has its take-overs afresh (:func:`chat.answering.retried_attempt`).
    """
    from chat.answering import retried_attempt  # not at the top: it loads the vendors' clients

    version = read_version(author.pk)
    _require_acknowledgement(author, version)
    if answer.role != Message.Role.ASSISTANT or answer.status not in (
        Message.Status.FAILED,
        Message.Status.CANCELLED,
    ):
        raise ChatError("Only a failed or stopped answer can be retried.")
    conversation = answer.conversation
    if not transient.keeps_content(conversation):
        raise ChatError(
            f"{conversation.category.name} keeps no content, so the question is gone: "
            "send it again."
        )
    question = answer.reply_to
    parts = _parts_as_written(question, conversation)
    text = PART_SEPARATOR.join(content for _, content in parts)
    detection, decision = _govern(
        conversation=conversation, author=author, text=text, version=version
    )
    decision = _routed(decision, None, version)
    if decision.blocked:
        with transaction.atomic():  # the attempt is recorded, as a blocked message is
            _record_request(question, decision, backend=None, author=author, retry=True)
        raise ChatError(" ".join(decision.reasons))
    escalated = decision.outcome is Outcome.ESCALATE
    if escalated and not _keeps_content(conversation, decision, version):
        higher = active_categories(version)[decision.category].name
        raise ChatError(
            f"Today's policy puts this question in {higher}, which keeps no content: start a "
            "conversation there and send it again."
        )
    with transaction.atomic():
        fresh = _locked(conversation)
        # Asked with the lock held: a message sent since the answer was loaded would
        # otherwise leave two answers on their way, the retried one no longer the last.
        if fresh.messages.filter(created_at__gt=answer.created_at).exists():
            raise ChatError("Only the last answer of a conversation can be retried.")
        if fresh.category_id != conversation.category_id:  # decided for the category it left
            raise ChatError("The conversation moved to another category meanwhile: retry again.")
        conversation = fresh
        if escalated:  # as a send: the conversation holds the higher category's material now
            conversation.category = category_by_number(decision.category, version)
            conversation.save(update_fields=["category"])
            question.category_number = decision.category
            question.save(update_fields=["category_number"])
        question.conversation = conversation
        replaced, mapping_grew, outgoing = _pseudonymise(conversation, question, parts, decision)
        if question.parts:  # today's placeholders may be longer or shorter than the first's
            question.parts = [[role, len(sent)] for role, sent in outgoing]
        question.reasons = list(decision.reasons)  # naming the backend that answers now
        question.save(update_fields=["sent_sealed", "replaced", "parts", "reasons"])
        # A retry is activity, as a message is: its answer is not purged the next night
        # under a window counted from the conversation's last message.
        conversation.last_activity_at = timezone.now()
        conversation.save(
            update_fields=["last_activity_at", *(["pseudonyms_sealed"] if mapping_grew else [])]
        )
        backend = backend_by_key(decision.backends[0], version)
        claimed = Message.objects.filter(
            pk=answer.pk, status=answer.status, attempt=answer.attempt
        ).update(
            status=Message.Status.PENDING,
            attempt=retried_attempt(answer.attempt),
            category_number=decision.category,
            backend=backend,
            backend_name=backend.name,
            error_sealed=b"",
            error_kind="",
            content_sealed=b"",
            chars=0,
            enqueued_at=None,
            started_at=None,
            finished_at=None,
            first_token_ms=None,
            finish_reason="",
        )
        if not claimed:
            raise ChatError("This answer is already being retried.")
        _record_request(
            question, decision, backend=backend, author=author, replaced=replaced, retry=True
        )
        queue = queue_for(backend)
        transaction.on_commit(lambda: _forget_quietly(answer.public_id))
        transaction.on_commit(lambda: enqueue_answer(answer.pk, queue))
    answer.refresh_from_db()
    return answer


def _parts_as_written(question: Message, conversation: Conversation) -> tuple[tuple[str, str], ...]:
    """A question's (role, text) parts as its author wrote them: a request's turns, each put
    back from what was sent (its placeholders restored); else its one text."""
    text = question.content
    if question.parts:
        sent, restore = question.sent_text, Pseudonymiser(conversation.pseudonyms()).restore
        parts, start = [], 0
        for role, length in question.parts:
            parts.append((role, restore(sent[start : start + length])))
            start += length + len(PART_SEPARATOR)
        if PART_SEPARATOR.join(content for _, content in parts) == text:
            return tuple(parts)
    return ((USER, text),)


def cancel_answer(*, answer: Message, author: User) -> None:
    """Stop an answer on its way: at once, with its audit event, when no worker is at it
    (not started, or its worker shows no heartbeat: :func:`chat.answering.stop_unattended`);
    else its worker is asked to, and stores it stopped within a heartbeat."""
    from chat.answering import stop_unattended  # not at the top: it loads the vendors' clients

    if not answer.in_flight:
        return
    if not stop_unattended(answer):
        streams.request_cancel(answer.public_id)


def rename_conversation(*, conversation: Conversation, actor: User, title: str) -> str:
    """Give a conversation a title of its owner's choosing; the title as saved.

    A title is kept like a message's text (as typed, sealed with the conversation, purged
    and erased with it) and sent to no model. So it is screened like a message in the
    conversation's category: what a message would be blocked for is not kept, and what
    would move a message to another category does not stand in this one's title. A
    category that keeps no content keeps no title either, and a conversation under a
    legal hold keeps the one it has.
    """
    title = " ".join(title.split())
    category = conversation.category
    if not title:
        raise ChatError("Give the conversation a title.")
    if len(title) > TITLE_CHARS:
        raise ChatError(f"Keep the title to {TITLE_CHARS} characters (this one has {len(title)}).")
    if not transient.keeps_content(conversation):
        raise ChatError(f"{category.name} keeps no content, so its conversations have no title.")
    try:
        detection = detect(title)
    except Exception:
        logger.exception("scanner failed on a title in %s", conversation.public_id)
        raise ChatError(
            "Steward could not check this title, so it was not saved. Try again; if it keeps "
            "happening, tell your policy admin."
        ) from None
    screened = screen(
        policy_input(
            user=actor,
            chosen=category.number,
            scan_result=detection.scan,
            rule_hits=detection.rule_hits,
        )
    )
    if screened.outcome in (Outcome.BLOCK, Outcome.ESCALATE):
        raise ChatError(
            "A title may not hold what a message here would be blocked for, or moved to "
            f"another category for. {' '.join(screened.reasons)}".rstrip()
        )
    with transaction.atomic():
        _unless_held(
            conversation,
            actor,
            AuditEvent.Action.CHAT_RENAMED,
            {"chars": len(title)},
            refusal=f"{HELD_FOR_NOW} its title cannot change.",
        )
        conversation.title = title
        Conversation.objects.filter(pk=conversation.pk).update(
            title_sealed=conversation.title_sealed
        )
        _index_title(conversation, subject_digests(title, detection))
    return title


def _index_title(conversation: Conversation, digests: dict[str, str]) -> None:
    """The title's identifiers in the subject index (rows without a message), in place of
    the last title's: an erasure or access request then finds a conversation that names
    its subject only in the title."""
    SubjectMention.objects.filter(conversation=conversation, message__isnull=True).delete()
    SubjectMention.objects.bulk_create(
        SubjectMention(digest=digest, kind=kind, conversation=conversation, message=None)
        for digest, kind in digests.items()
    )


def delete_conversation(*, conversation: Conversation, actor: User) -> None:
    """Delete a conversation, its messages, its key and its index rows; never one under a
    legal hold, even one placed a moment before.

    See :func:`_unless_held` for how a hold placed a moment before is seen. An answer still
    on its way is stopped, and its stream dropped with the others.
    """
    from privacy import purge

    with transaction.atomic():
        # Read after the holds lock and under the conversation's own (a send takes it): a
        # message sent meanwhile is counted and its answer stopped, as it goes with the rows.
        purge.holds_settled()
        list(Conversation.objects.select_for_update().filter(pk=conversation.pk).values("pk"))
        messages = list(conversation.messages.values_list("public_id", "status"))
        ids = [public_id for public_id, _ in messages]
        in_flight = [public_id for public_id, status in messages if status in Message.IN_FLIGHT]
        _unless_held(
            conversation,
            actor,
            AuditEvent.Action.CHAT_DELETED,
            {"messages": len(ids)},
            refusal=f"{HELD_FOR_NOW} it cannot be deleted. Ask them if you need it gone.",
        )
        SubjectMention.objects.filter(conversation=conversation).delete()
        conversation.delete()
    transaction.on_commit(lambda: _forget_quietly(*ids, stopping=in_flight))


def _unless_held(
    conversation: Conversation, actor: User, action: str, details: dict, *, refusal: str
) -> None:
    """Inside the transaction of an owner's change that a legal hold stops (a delete, a
    rename): record its audit event, or refuse it with ``refusal`` if a hold keeps the
    conversation now, or if it was deleted meanwhile (a second click); a refusal rolls
    the event back with the rest.

    The holds lock comes first (:func:`privacy.purge.holds_settled`): a hold being placed
    commits before, and is seen here; one placed later waits, and is recorded after this
    change. (Taken the other way round, the hold's row lock and this event's chain lock
    deadlocked.)
    """
    from privacy import purge
    from privacy import services as privacy

    purge.holds_settled()
    record(
        action=action,
        actor=actor,
        target=conversation,
        category=conversation.category.name,
        details=details,
    )
    fresh = Conversation.objects.filter(pk=conversation.pk).values("legal_hold").first()
    if fresh is None:
        raise ChatError("This conversation was already deleted.")
    conversation.legal_hold = fresh["legal_hold"]
    if privacy.is_held(conversation):
        raise ChatError(refusal)


def enqueue_answer(
    message_id: int, queue: str | None = None, *, written_queued: bool = False
) -> bool:
    """Hand a pending answer to its queue; if the broker is down, the row waits for the sweeper.

    Safe to call more than once: the task claims its answer with a conditional
    update, so a second delivery finds nothing to do. ``queue`` is looked up
    when the caller does not know it. The push sets the answer's queued mark
    (:func:`chat.streams.queued_key`) with it. ``written_queued``: the row is
    QUEUED already (a new message's answer); else PENDING → QUEUED after the push.
    """
    if queue is None:
        waiting = _waiting(message_id)
        hosting = waiting.values_list("backend__hosting_class", flat=True).first()
        if hosting is None and not waiting.exists():
            return False
        queue = queue_for_hosting(hosting)
    marker = (streams.queued_key(message_id), streams.QUEUED_TTL_SECONDS)
    try:
        publish(generate_answer, queue, message_id, marker=marker)
    except Exception as exc:  # the broker's many ways of being unreachable
        logger.warning("answer #%s waits for the queue: %s", message_id, type(exc).__name__)
        # Waiting for the queue, as its author sees: the sweeper tries again in a while.
        _waiting(message_id).update(status=Message.Status.PENDING, enqueued_at=timezone.now())
        return False
    if not written_queued:
        _mark_queued(message_id)
    return True


def _waiting(message_id: int):
    # Built only where needed: the ORM's filter cost a third of a millisecond of CPU, on the
    # way of every answer to its worker.
    return Message.objects.filter(
        pk=message_id, status__in=(Message.Status.PENDING, Message.Status.QUEUED)
    )


def _mark_queued(message_id: int) -> None:
    """PENDING → QUEUED, in SQL written once (building the ORM's update took longer than
    running it, on the way of every answer to its worker), committed without waiting for
    the disk: lost in a crash, the answer is PENDING again and the sweeper queues it anew
    (the task claims it once however often it is delivered)."""
    with hot_cursor() as cursor:
        cursor.execute(
            _MARK_QUEUED_UNAWAITED if may_skip_wait() else _MARK_QUEUED,
            [
                Message.Status.QUEUED.value,
                connection.ops.adapt_datetimefield_value(timezone.now()),
                message_id,
                Message.Status.PENDING.value,
            ],
        )


_MARK_QUEUED_SET = f"UPDATE {Message._meta.db_table} SET status = %s, enqueued_at = %s"
_MARK_QUEUED_WHERE = "WHERE id = %s AND status = %s"
_MARK_QUEUED = f"{_MARK_QUEUED_SET} {_MARK_QUEUED_WHERE}"
_MARK_QUEUED_UNAWAITED = unawaited(_MARK_QUEUED_SET, _MARK_QUEUED_WHERE)


def queue_for(backend: Backend | None) -> str:
    """Local models on their own queue, so a slow one never delays external calls."""
    return queue_for_hosting(backend.hosting_class if backend is not None else None)


def queue_for_hosting(hosting_class: str | None) -> str:
    return "inference_local" if hosting_class == "on_prem" else "inference_external"


# --- the steps ---------------------------------------------------------------------------


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
_AS_READ = (
    " AND ".join(f"{Conversation._meta.get_field(name).column} = %s" for name in _MESSAGE_WRITES)
    + f" AND NOT EXISTS (SELECT 1 FROM {Message._meta.db_table} m"
    f" WHERE m.conversation_id = {Conversation._meta.db_table}.id"
    f" AND m.status IN ({', '.join(['%s'] * len(_IN_FLIGHT))}))"
)
STILL_ON_ITS_WAY = "An answer is still on its way: wait for it, or stop it first."


def _locked(conversation: Conversation, *, idle: bool = False) -> Conversation:
    """The conversation, fresh and locked until the end of the transaction (its category
    comes along, unlocked): two messages sent at once take turns.

    ``idle``: refuse if an answer is still on its way, in the same statement. On
    PostgreSQL that statement reads with the snapshot it took before waiting for
    the lock, so the second of two messages sent at once may not see the first's
    answer: the database's constraint refuses its own then (``chat_one_answer_in_flight``,
    see :func:`_govern_and_record`).
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


def _pick_backend(eligible: tuple[str, ...], version: Version) -> Backend:
    """The first eligible backend (in the policy's order) that can answer now.

    A backend the worker could not reach lately (for
    ``chat.streams.UNREACHABLE_FOR_SECONDS``), or whose key is to come from an
    environment variable that is not set, goes to the back of the line, so the
    next approved backend answers instead; if none is better, the first is
    tried (and its failure says why).
    """
    try:
        down = streams.unreachable(eligible)
    except Exception:  # Redis is down: the answer will wait for it anyway
        down = frozenset()
    backends = cached("chat.backends", version, _backends_by_id)
    ready = [
        key
        for key in eligible
        if key in backends and key not in down and not backends[key].key_missing
    ]
    return backend_by_key(ready[0] if ready else eligible[0], version)


def passed_over(decision: Decision, version: Version) -> tuple[Backend, str] | None:
    """When a message sent now would not reach the policy's first choice (:func:`_pick_backend`):
    the backend it would reach, and why the first is passed over, in words; else None."""
    if decision.blocked or not decision.backends:
        return None
    picked = _pick_backend(decision.backends, version)
    if str(picked.public_id) == decision.backends[0]:
        return None
    first = backend_by_key(decision.backends[0], version)
    if not first.key_missing:
        return (
            picked,
            f"{first.name} could not be reached in {_the_last(streams.UNREACHABLE_FOR_SECONDS)}",
        )
    variable = first.credential_env
    problem = "is not set" if not os.environ.get(variable) else "is not offered for keys"
    return picked, f"{first.name} has no key on this server ({variable} {problem})"


def _the_last(seconds: int) -> str:
    """``60`` → "the last minute", ``120`` → "the last 2 minutes", ``90`` → "the last 90
    seconds"."""
    if seconds % 60:
        return f"the last {seconds} seconds"
    minutes = seconds // 60
    return "the last minute" if minutes == 1 else f"the last {minutes} minutes"


def backend_by_key(key: str, version: Version) -> Backend:
    """A copy of the backend whose public id is ``key``, as of ``version`` (cached per policy
    version; the cached rows are shared between threads). KeyError when there is none."""
    return copy.copy(cached("chat.backends", version, _backends_by_id)[key])


def _backends_by_id() -> dict[str, Backend]:
    return {str(b.public_id): b for b in Backend.objects.all()}


def active_categories(version: Version) -> dict[int, Category]:
    """The active categories by number, as of ``version`` (cached per policy version).

    The rows are shared between threads: read them; a conversation gets its own
    copy (:func:`category_by_number`).
    """
    return cached("chat.categories", version, _categories_by_number)


def category_by_number(number: int, version: Version) -> Category:
    """A copy of the active category ``number`` (KeyError when there is none)."""
    return copy.copy(active_categories(version)[number])


def _categories_by_number() -> dict[int, Category]:
    return {c.number: c for c in Category.objects.filter(is_active=True)}


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


def _routed(decision: Decision, backend: Backend | None, version: Version) -> Decision:
    """The decision with the backend the message goes to as its only way out: ``backend``,
    when the caller names one (blocked if the policy rules it out), else the first eligible
    one that can answer now (:func:`_pick_backend`). Its reasons name that backend."""
    if decision.blocked or not (backend or decision.backends):
        return decision
    backend = backend or _pick_backend(decision.backends, version)
    key = str(backend.public_id)
    if key in decision.backends:
        return decision.routed_to(key, backend.name)
    reason = f"{backend.name} may not receive category {decision.category} material."
    return Decision(outcome=Outcome.BLOCK, category=decision.category, reasons=(reason,))


def preview(*, author: User, conversation: Conversation, text: str) -> Simulation:
    """What sending ``text`` in ``conversation`` would do, to the backend a send would pick
    now; nothing is stored or sent."""
    simulation = simulate(user=author, chosen=conversation.category.number, text=text)
    decision = _routed(simulation.decision, None, read_version(author.pk))
    return replace(simulation, decision=decision)


def clean_text(text: str) -> str:
    """The message with its line ends normalised and trimmed; ChatError if it is empty or too
    long to send."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ChatError("Write a message first.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ChatError(
            f"That message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
            "Split it, or send the part that matters."
        )
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
    """A conversation's title taken from its first message: the start of its one line."""
    first = " ".join(text.split())
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"


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
