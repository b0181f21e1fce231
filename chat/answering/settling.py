"""Storing how an answer ended (done, stopped or failed) with its audit event, and ending
its stream; only by the attempt that still owns the answer."""

import functools
import logging
import re
import time

from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record, update_and_record
from chat import llm, streams, transient
from chat.answering.production import Progress
from chat.models import Conversation, Message
from chat.pseudonyms import Pseudonymiser

logger = logging.getLogger(__name__)

#: Failures whose explanation holds the backend's own words, which may quote what it was
#: sent: in a category that keeps no content, these take their place.
QUOTING_KINDS = {
    "http": "{name} answered with an error (its words are not kept: this category keeps no "
    "content).",
    "auth": "{name} refused Steward's key: ask an administrator to check the backend.",
}
#: A vendor's error code as the audit trail keeps it: an identifier, never free text.
VENDOR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def settle(answer: Message, writer, progress: Progress) -> None:
    """Store how the answer ended (done, stopped or failed) with its audit event, end the stream."""
    if progress.superseded:
        if not progress.followed:  # a follower never held the answer: no news to log
            logger.info("answer %s: attempt %s superseded", answer.public_id, answer.attempt)
        return
    if "[" in progress.text:  # before the stream ends: the author's next message comes after
        try:
            _keep_invented_placeholders(answer, progress.text)
        except Exception as exc:  # the answer is stored all the same
            logger.warning(
                "answer %s: made-up placeholders not kept (%s)",
                answer.public_id,
                type(exc).__name__,
            )
    if progress.error_kind:
        _fail(
            answer,
            writer,
            progress.error,
            progress.error_kind,
            partial=progress.text,
            failure=progress.failure,
        )
    else:
        _finish(answer, writer, progress)


def _keep_invented_placeholders(answer: Message, text: str) -> None:
    """Keep the placeholders the model made up in ``text`` as the conversation's literals
    (:meth:`chat.pseudonyms.Pseudonymiser.keep_invented`), under the conversation's lock,
    as a message's new placeholders are; the mapping is read once, and written only when
    the answer made one up. A category that keeps no text keeps no answer to misread."""
    conversation = answer.conversation
    if not transient.keeps_content(conversation):
        return
    if not Pseudonymiser(conversation.pseudonyms()).keep_invented(text):
        return
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        if locked is None:  # deleted meanwhile
            return
        pseudonymiser = Pseudonymiser(locked.pseudonyms())
        if pseudonymiser.keep_invented(text):
            locked.set_pseudonyms(pseudonymiser.mapping)
            locked.save(update_fields=["pseudonyms_sealed"])


def _finish(answer: Message, writer, progress: Progress) -> None:
    status = Message.Status.CANCELLED if progress.cancelled else Message.Status.DONE
    _set_text(answer, progress.text)
    answer.first_token_ms = progress.first_token_ms
    if progress.usage is not None:
        answer.input_tokens = progress.usage.input_tokens
        answer.output_tokens = progress.usage.output_tokens
    answer.finish_reason = "" if progress.cancelled else progress.finish
    _settle(
        answer,
        writer,
        status,
        lambda: _record_response(answer, progress.started, cancelled=progress.cancelled),
        first_token_ms=answer.first_token_ms,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        finish_reason=answer.finish_reason,
    )


def _fail(
    answer: Message,
    writer,
    error: str,
    kind: str,
    *,
    partial: str = "",
    stage: str = "backend",
    failure: llm.LLMError | None = None,
) -> None:
    _set_text(answer, partial)
    answer.error = error
    if kind in QUOTING_KINDS and not transient.keeps_content(answer.conversation):
        answer.error = QUOTING_KINDS[kind].format(name=answer.backend_name or "The backend")
    _settle(
        answer,
        writer,
        Message.Status.FAILED,
        lambda: _record_failure(answer, kind, stage=stage, failure=failure),
        error_sealed=answer.error_sealed,
        error_kind=kind[:20],
    )


def _set_text(answer: Message, text: str) -> None:
    """The answer's text, sealed; in a category that keeps no content, only its size."""
    if transient.keeps_content(answer.conversation):
        answer.content = text
    else:
        answer.chars = len(text)


def _settle(answer: Message, writer, status: str, audit, **fields) -> None:
    """Store the outcome (the answer's text and ``fields``) and its audit event, then end
    the stream; only if this attempt still owns the answer. If it does not, and no other
    attempt took it over, the answer was deleted, or stopped by an erasure, meanwhile: its
    stream goes (what it holds is what was deleted or erased)."""
    values = {
        "status": status,
        "content_sealed": answer.content_sealed,
        "chars": answer.chars,
        "finished_at": timezone.now(),
        **fields,
    }
    params = [
        Message._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in values.items()
    ]
    updated = update_and_record(
        _settle_sql(tuple(values)),
        [*params, answer.pk, Message.Status.STREAMING.value, answer.attempt],
        audit,
    )
    if updated:
        writer.end(status)
    elif not Message.objects.filter(pk=answer.pk, attempt__gt=answer.attempt).exists():
        streams.client().delete(streams.stream_key(answer.public_id))


@functools.cache
def _settle_sql(names: tuple[str, ...]) -> str:
    """The update that settles an answer, for each set of fields a settlement writes (a
    finished answer's, a failed one's)."""
    columns = ", ".join(
        f"{connection.ops.quote_name(Message._meta.get_field(name).column)} = %s" for name in names
    )
    owned = "id = %s AND status = %s AND attempt = %s"
    return f"UPDATE {Message._meta.db_table} SET {columns} WHERE {owned}"


def _end_stream(answer: Message, status: str) -> None:
    try:
        streams.AnswerWriter(answer.public_id).end(status)
    except Exception:  # the page also learns it from the database
        logger.warning("could not end the stream of %s", answer.public_id)


def _record_response(answer: Message, started: float, *, cancelled: bool) -> None:
    _record(
        answer,
        AuditEvent.Action.CHAT_RESPONSE,
        AuditEvent.Outcome.SUCCESS,
        hosting_class=answer.backend.hosting_class if answer.backend else "",
        chars=answer.chars,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        first_token_ms=answer.first_token_ms,
        duration_ms=round((time.monotonic() - started) * 1000),
        cancelled=cancelled,
        finish=answer.finish_reason,
    )


def _record_failure(
    answer: Message, kind: str, *, stage: str, failure: llm.LLMError | None = None
) -> None:
    """``failure``: the backend's own refusal, whose HTTP status and vendor code (when it is
    an identifier: a backend may put any text there) the event keeps, for counting
    refusals by cause."""
    vendor = {}
    if failure is not None and failure.status:
        vendor["status"] = failure.status
    if failure is not None and VENDOR_CODE.fullmatch(str(failure.code or "")):
        vendor["code"] = failure.code
    _record(
        answer,
        AuditEvent.Action.CHAT_FAILURE,
        AuditEvent.Outcome.FAILURE,
        stage=stage,
        kind=kind,
        **vendor,
    )


def _record(answer: Message, action: str, outcome: str, **details) -> None:
    """An answer's audit event: sizes, timings and kinds, never its text."""
    conversation = answer.conversation
    record(
        action=action,
        actor=conversation.owner,
        target=conversation,
        outcome=outcome,
        category=conversation.category.name,
        backend=answer.backend_name,
        details={
            "category_number": answer.category_number,
            **details,
            "message": str(answer.public_id),
        },
    )
