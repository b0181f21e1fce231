"""The worker's side of a message: call the backend, stream the answer, finish.

Every way this can end leaves the answer in a state its author sees: done,
failed (with a sentence saying why) or stopped. Nothing stays "answering"
forever: the sweeper fails answers whose worker stopped sending heartbeats.
"""

import logging
import threading
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from chat import llm, streams
from chat.models import Message

logger = logging.getLogger(__name__)

#: Read timeout of one backend call (the longest silence between two chunks).
BACKEND_TIMEOUT_SECONDS = 120
#: How often a working answer tells the database it is alive.
HEARTBEAT_SECONDS = 5
#: An answer whose heartbeat is older than this lost its worker.
STALE_AFTER_SECONDS = 45
#: A saved answer that never reached the queue is handed to it again after this.
REQUEUE_AFTER_SECONDS = 5
#: Queued this long without a worker taking it: give up, visibly.
QUEUE_GIVE_UP_SECONDS = 15 * 60
#: How often the cancel flag is looked at while chunks arrive.
CANCEL_POLL_SECONDS = 0.2
#: How much history (characters) goes with each call; the oldest turns go first.
HISTORY_BUDGET_CHARS = 24_000

SYSTEM_PROMPT = (
    "Some values in this conversation were replaced by placeholders in square brackets, "
    "such as [EMAIL_1] or [PERSON_2]. Keep every placeholder exactly as written, brackets "
    "included, wherever you refer to the value it stands for."
)


@dataclass
class _Progress:
    text: str = ""
    first_token_ms: int | None = None
    cancelled: bool = False


def generate_answer(message_id: int) -> None:
    """Produce one answer, once, however often the task is delivered.

    1. Claim the answer (PENDING or QUEUED → STREAMING) with a conditional
       update; a duplicate delivery finds nothing to claim. A redelivery after
       a worker died finds it STREAMING with a stale heartbeat and fails it.
    2. Build the messages: the system note about placeholders, then the
       conversation's turns as they were sent, newest kept within the budget.
    3. Stream from the backend into the answer's Redis stream, with
       heartbeats and the cancel flag checked as chunks arrive.
    4. Save the outcome and its audit event, then end the stream.
    """
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message_id, status__in=(Message.Status.PENDING, Message.Status.QUEUED)
    ).update(
        status=Message.Status.STREAMING,
        started_at=now,
        heartbeat_at=now,
        attempt=F("attempt") + 1,
    )
    if not claimed:
        fail_if_stale(message_id)
        return
    answer = Message.objects.select_related("conversation__category", "backend").get(pk=message_id)
    writer = streams.AnswerWriter(answer.public_id)
    writer.start()
    backend = answer.backend
    if backend is None or not backend.enabled:
        _fail(answer, writer, "The backend chosen for this answer was disabled; retry.", "config")
        return
    progress = _Progress()
    started = time.monotonic()
    try:
        adapter = llm.adapter_for(backend)
        _stream(adapter, _history(answer), answer, writer, progress, started)
    except llm.LLMError as exc:
        _fail(answer, writer, str(exc), exc.kind, partial=progress.text)
        return
    except Exception as exc:
        logger.exception("answer %s failed unexpectedly", answer.public_id)
        _fail(answer, writer, "Something went wrong while answering; retry.", type(exc).__name__)
        return
    _finish(answer, writer, progress, adapter.usage, started)


def _stream(adapter, messages, answer: Message, writer, progress: _Progress, started: float):
    cancel = threading.Event()
    next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
    next_cancel_check = time.monotonic() + CANCEL_POLL_SECONDS
    for text in adapter.stream(messages, timeout=BACKEND_TIMEOUT_SECONDS, cancel=cancel):
        if progress.first_token_ms is None:
            progress.first_token_ms = round((time.monotonic() - started) * 1000)
        progress.text += text
        writer.chunk(text)
        now = time.monotonic()
        if now >= next_cancel_check:
            next_cancel_check = now + CANCEL_POLL_SECONDS
            if streams.cancel_requested(answer.public_id):
                progress.cancelled = True
                cancel.set()
        if now >= next_heartbeat:
            next_heartbeat = now + HEARTBEAT_SECONDS
            Message.objects.filter(pk=answer.pk).update(heartbeat_at=timezone.now())
    if not progress.cancelled and streams.cancel_requested(answer.public_id):
        progress.cancelled = True


def _history(answer: Message) -> list[llm.ChatMessage]:
    """The turns before this answer as the backend saw them, newest first within the budget."""
    turns = (
        Message.objects.filter(
            conversation_id=answer.conversation_id, created_at__lte=answer.created_at
        )
        .filter(
            Q(role=Message.Role.USER, status=Message.Status.SENT)
            | Q(role=Message.Role.ASSISTANT, status=Message.Status.DONE)
        )
        .exclude(pk=answer.pk)
        .order_by("-created_at", "-id")
    )
    kept: list[llm.ChatMessage] = []
    budget = HISTORY_BUDGET_CHARS
    for turn in turns.iterator():
        turn.conversation = answer.conversation  # one data key, opened once
        text = turn.sent_text if turn.role == Message.Role.USER else turn.content
        if kept and len(text) > budget:
            break
        budget -= len(text)
        kept.append(llm.ChatMessage(role=turn.role, content=text))
    kept.reverse()
    # A history must start with the user (Anthropic insists).
    while kept and kept[0].role != Message.Role.USER:
        kept.pop(0)
    return [llm.ChatMessage(role="system", content=SYSTEM_PROMPT), *kept]


def _finish(answer: Message, writer, progress: _Progress, usage, started: float) -> None:
    status = Message.Status.CANCELLED if progress.cancelled else Message.Status.DONE
    answer.content = progress.text
    answer.status = status
    answer.finished_at = timezone.now()
    answer.first_token_ms = progress.first_token_ms
    if usage is not None:
        answer.input_tokens = usage.input_tokens
        answer.output_tokens = usage.output_tokens
    with transaction.atomic():
        updated = Message.objects.filter(pk=answer.pk, status=Message.Status.STREAMING).update(
            status=status,
            content_sealed=answer.content_sealed,
            chars=answer.chars,
            finished_at=answer.finished_at,
            first_token_ms=answer.first_token_ms,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
        )
        if updated:
            _record_response(answer, started, cancelled=progress.cancelled)
    writer.end(status if updated else Message.Status.FAILED)


def _fail(answer: Message, writer, error: str, kind: str, *, partial: str = "") -> None:
    answer.content = partial
    with transaction.atomic():
        updated = Message.objects.filter(pk=answer.pk, status=Message.Status.STREAMING).update(
            status=Message.Status.FAILED,
            error=error[:500],
            error_kind=kind[:20],
            content_sealed=answer.content_sealed,
            chars=answer.chars,
            finished_at=timezone.now(),
        )
        if updated:
            _record_failure(answer, kind, stage="backend")
    writer.end(Message.Status.FAILED)


def fail_if_stale(message_id: int) -> bool:
    """Fail an answer whose worker stopped sending heartbeats (killed, or its machine lost)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=STALE_AFTER_SECONDS)
    answer = Message.objects.filter(
        pk=message_id, status=Message.Status.STREAMING, heartbeat_at__lt=cutoff
    ).first()
    if answer is None:
        return False
    return _give_up(answer, "The worker answering this stopped before it finished; retry.", "lost")


def sweep() -> dict[str, int]:
    """Beat, every few seconds: re-queue what never reached the queue, fail what was lost."""
    now = timezone.now()
    requeued = 0
    pending = Message.objects.filter(status=Message.Status.PENDING).filter(
        Q(
            enqueued_at__isnull=True,
            created_at__lt=now - timezone.timedelta(seconds=REQUEUE_AFTER_SECONDS),
        )
        | Q(enqueued_at__lt=now - timezone.timedelta(seconds=REQUEUE_AFTER_SECONDS))
    )
    from chat.services import enqueue_answer

    for message_id in pending.values_list("pk", flat=True)[:500]:
        requeued += enqueue_answer(message_id)
    lost = 0
    stale = Message.objects.filter(
        status=Message.Status.STREAMING,
        heartbeat_at__lt=now - timezone.timedelta(seconds=STALE_AFTER_SECONDS),
    )
    for answer in stale[:500]:
        lost += _give_up(
            answer, "The worker answering this stopped before it finished; retry.", "lost"
        )
    forgotten = Message.objects.filter(
        status=Message.Status.QUEUED,
        enqueued_at__lt=now - timezone.timedelta(seconds=QUEUE_GIVE_UP_SECONDS),
    )
    for answer in forgotten[:500]:
        lost += _give_up(answer, "No worker took this answer in time; retry.", "queue")
    return {"requeued": requeued, "failed": lost}


def _give_up(answer: Message, error: str, kind: str) -> bool:
    with transaction.atomic():
        updated = Message.objects.filter(pk=answer.pk, status=answer.status).update(
            status=Message.Status.FAILED, error=error, error_kind=kind, finished_at=timezone.now()
        )
        if updated:
            _record_failure(answer, kind, stage="worker")
    if updated:
        try:
            streams.AnswerWriter(answer.public_id).end(Message.Status.FAILED)
        except Exception:  # the page also learns it from the database
            logger.warning("could not end the stream of %s", answer.public_id)
    return bool(updated)


def _record_response(answer: Message, started: float, *, cancelled: bool) -> None:
    conversation = answer.conversation
    record(
        action=AuditEvent.Action.CHAT_RESPONSE,
        actor=conversation.owner,
        target=conversation,
        category=conversation.category.name,
        backend=answer.backend_name,
        details={
            "category_number": answer.category_number,
            "hosting_class": answer.backend.hosting_class if answer.backend else "",
            "chars": answer.chars,
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "first_token_ms": answer.first_token_ms,
            "duration_ms": round((time.monotonic() - started) * 1000),
            "cancelled": cancelled,
            "message": str(answer.public_id),
        },
    )


def _record_failure(answer: Message, kind: str, *, stage: str) -> None:
    conversation = answer.conversation
    record(
        action=AuditEvent.Action.CHAT_FAILURE,
        actor=conversation.owner,
        target=conversation,
        outcome=AuditEvent.Outcome.FAILURE,
        category=conversation.category.name,
        backend=answer.backend_name,
        details={
            "category_number": answer.category_number,
            "stage": stage,
            "kind": kind,
            "message": str(answer.public_id),
        },
    )
