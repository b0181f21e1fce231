"""Relaying an answer that a worker produces and settles, for a caller that streams answers
itself (the API) but was given one that only a worker may produce (the built-in model)."""

import time

from chat import llm, streams
from chat.answering.production import Progress
from chat.answering.unattended import still_on_its_way
from chat.models import Message
from chat.tasks import ANSWER_SOFT_LIMIT_SECONDS

#: A follower (:func:`follow`) silent this long looks at the answer's row.
FOLLOW_SILENCE_MS = 5000


def follow(
    answer: Message, writer, *, limit_seconds: float = ANSWER_SOFT_LIMIT_SECONDS
) -> Progress:
    """Relay an answer that a worker produces (and settles): read its stream into ``writer``.

    For a caller that streams answers itself (the API) but was given one that
    only a worker may produce (the built-in model). The returned progress is
    marked superseded, so the caller's :func:`chat.answering.settle` writes nothing; its text,
    usage and error are the worker's.
    """
    progress = Progress(superseded=True, followed=True)
    key, last = streams.stream_key(answer.public_id), "0"
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        read = streams.client().xread({key: last}, block=FOLLOW_SILENCE_MS, count=200)
        # Ended without an end entry: its stream dropped by a delete, purge or erasure, or
        # failed here (its worker lost, and the sweeper may have gone with it).
        if not read and not still_on_its_way(answer.pk):
            _as_settled(answer, progress)
            return progress
        for _, entries in read or []:
            for entry_id, fields in entries:
                last = entry_id
                kind = fields.get(b"t")
                if kind == b"start":
                    progress.text = ""  # a worker took the answer over from the start
                elif kind == b"chunk":
                    text = fields[b"text"].decode()
                    if progress.first_token_ms is None:
                        progress.first_token_ms = int((time.monotonic() - progress.started) * 1000)
                    progress.text += text
                    writer.chunk(text)
                elif kind == b"end":
                    _as_settled(answer, progress)
                    return progress
    progress.error, progress.error_kind = "The answer took too long and was stopped.", "timeout"
    streams.request_cancel(answer.public_id)
    return progress


def _as_settled(answer: Message, progress: Progress) -> None:
    settled = (
        Message.objects.filter(pk=answer.pk)
        .values(
            "status", "error_sealed", "error_kind", "input_tokens", "output_tokens", "finish_reason"
        )
        .first()
    )
    if settled is None:  # deleted meanwhile, with its conversation
        progress.cancelled = True
        return
    progress.usage = llm.Usage(settled["input_tokens"], settled["output_tokens"])
    progress.finish = settled["finish_reason"] or llm.STOPPED
    progress.cancelled = settled["status"] == Message.Status.CANCELLED
    if settled["status"] == Message.Status.FAILED:
        answer.error_sealed = settled["error_sealed"]
        progress.error, progress.error_kind = answer.error, settled["error_kind"] or "internal"
        if progress.error_kind == Message.TOO_LONG:  # the API answers it as the backend's refusal
            progress.failure = llm.LLMError(
                progress.error, kind="http", status=400, code=llm.TOO_LONG
            )
