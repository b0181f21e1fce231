"""Sending a message (the chat page's) or a request (the API's), retrying an answer, and
stopping one on its way.

scan → decide → record (one transaction: the user's message, the decision, the
pending answer and the audit event) → pseudonymise → queue.
"""

import copy
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.writes import Writes
from chat import streams, transient
from chat.models import Conversation, Message
from chat.pseudonyms import Pseudonymiser, named
from chat.services.conversations import _new_conversation, _store_new
from chat.services.queueing import enqueue_answer, queue_for
from chat.services.routing import (
    _routed,
    active_categories,
    backend_by_key,
    category_by_number,
)
from chat.services.steps import (
    _IN_FLIGHT,
    PART_SEPARATOR,
    STILL_ON_ITS_WAY,
    USER,
    ChatError,
    _clean_parts,
    _counts,
    _forget_quietly,
    _govern,
    _hold_in_transit,
    _index_subjects,
    _keeps_content,
    _locked,
    _pseudonymise,
    _record_request,
    _require_acknowledgement,
    clean_text,
    title_from,
)
from governance.detection import Detection
from governance.models import Backend, Category, User
from governance.policy import Decision, Outcome
from governance.policy_cache import Version, read_version


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


_AS_READ = (
    " AND ".join(f"{Conversation._meta.get_field(name).column} = %s" for name in _MESSAGE_WRITES)
    + f" AND NOT EXISTS (SELECT 1 FROM {Message._meta.db_table} m"
    f" WHERE m.conversation_id = {Conversation._meta.db_table}.id"
    f" AND m.status IN ({', '.join(['%s'] * len(_IN_FLIGHT))}))"
)


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
    if not answer.retry_may_help:
        raise ChatError(
            "This message is too long for the model: sent again as it is, it would fail the "
            "same way. Copy it, shorten or split it, and send it as a new message."
        )
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
