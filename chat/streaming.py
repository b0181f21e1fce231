"""The answer as it arrives: server-sent events read from the answer's Redis stream.

An async view: a waiting page costs a coroutine and a Redis connection, and
neither a thread nor a database connection of its own: ``config.asgi`` runs the
middlewares and the view's few look-ups on asgiref's one shared thread, whose
connection every stream uses in turn (served another way, the connection is
closed instead; see ``ReleaseDatabaseForStreamsMiddleware``). Each ``chunk``
event carries the whole answer so far, rendered as sanitised Markdown with the author's
values back in its text (never in a link's address), its settled blocks once
(:class:`chat.markdown.GrowingAnswer`; a placeholder split across two chunks is whole
again in the next event); its id is the stream entry's, and a reconnecting page sends it
back as ``Last-Event-ID`` to resume where it was.
An ``end`` event tells the page to fetch the finished turn from the database.

The chat page sends a message with :func:`send_and_stream`: one POST whose
response is a stream too, the new turns first (a ``sent`` event), then the
answer's events as above. With the answer's stream opened by a second request
after the POST came back, the first words came about 20 ms later (bench/chat.py).
"""

import asyncio
import re
from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET, require_POST

from chat import streams, transient, views
from chat.access import get_message_to_stream
from chat.answering import NOT_STARTED, SETTLED, whereabouts
from chat.markdown import GrowingAnswer
from chat.models import Message
from chat.pseudonyms import Pseudonymiser
from config.connections import in_database_thread
from config.middleware import event_stream, on_shared_thread
from governance.roles import Role

#: How long one read waits for the next chunk before the database is asked.
BLOCK_MS = 5_000
#: One connection's longest life; the browser reconnects and resumes.
MAX_CONNECTION_SECONDS = 300
#: At most this many renders a second per answer: each one renders the answer's last
#: blocks again (on the event loop), and chunks that arrive between are coalesced.
RENDERS_PER_SECOND = 12


def _waiting_line(words: str) -> str:
    """What an answer shows while no words of it have come: moving dots, and ``words``."""
    return (
        '<span class="typing" aria-hidden="true"><span></span><span></span><span></span></span> '
        f'<span class="small muted">{words}</span>'
    )


#: Shown in place of "Answering…" while the backend has the answer in its queue.
WAITING_HTML = _waiting_line("Waiting for the model: it is answering someone else…")
#: Shown in place of "Queued…" once the answer has waited a while for its model to start on it.
NOT_STARTED_HTML = _waiting_line(
    "The model has not started on this yet: it may be busy, or down. You can wait, or "
    "Stop and try again later."
)
#: Shown when a model starts on an answer after all.
STARTED_HTML = _waiting_line("Answering…")
ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@event_stream
@require_GET
async def answer_stream(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """``text/event-stream`` of one answer, for its author only."""
    opened = await sync_to_async(_open)(request, public_id)
    if opened is None:
        return redirect_to_login(request.get_full_path())
    message, mapping = opened
    resume_from = request.headers.get("Last-Event-ID", "")
    resume = _entry(resume_from) if ENTRY_ID.match(resume_from) else (0, 0)
    response = StreamingHttpResponse(
        _events(message, Pseudonymiser(mapping), resume), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # proxies must pass chunks through as they come
    return response


@event_stream
@require_POST
async def send_and_stream(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Send a message as :func:`chat.views.send` does; when an answer is on its way, the
    response is a ``text/event-stream``: the new turns (``sent``), then the answer's events."""
    # On the database threads, as the API's governed path: not on the one thread every
    # stream's opening shares, which a slow send (a lock, a broker that does not answer)
    # would hold up for all of them.
    outcome = await in_database_thread(_send)(request, public_id)
    if isinstance(outcome, HttpResponse):  # anonymous: the login page
        return outcome
    sent, answer, mapping = outcome
    if answer is None or sent.status_code != 200:
        return sent  # blocked, refused, or the page must reload: as the plain send
    response = StreamingHttpResponse(
        _sent_then_answer(sent, answer, Pseudonymiser(mapping)), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


def _send(request: HttpRequest, public_id: UUID):
    """Send, and the placeholder mapping of the answer to stream (one trip to a thread)."""
    outcome = views.send_for_stream(request, public_id)
    if isinstance(outcome, HttpResponse):
        return outcome
    sent, answer = outcome
    return sent, answer, transient.mapping_for(answer) if answer is not None else {}


async def _sent_then_answer(sent: HttpResponse, answer: Message, pseudonymiser: Pseudonymiser):
    yield _event("sent", sent.content.decode())
    async for event in _events(answer, pseudonymiser, (0, 0), sent_now=True):
        yield event


def _open(request: HttpRequest, public_id: UUID) -> tuple[Message, dict] | None:
    """The answer and its placeholder mapping, for its author; None for an anonymous visitor.

    One trip to the thread for every check, with the user the middlewares loaded
    (``request.auser()`` would read it again).
    """
    user = request.user
    if not user.is_authenticated:
        return None
    if not user.has_perm(Role.STAFF.permission):
        raise PermissionDenied("This page is for the Staff role.")
    message = get_message_to_stream(user, public_id)
    if message.role != Message.Role.ASSISTANT:
        raise Http404("Only answers stream.")
    return message, transient.mapping_for(message)


async def _events(
    message: Message, pseudonymiser: Pseudonymiser, resume: tuple[int, int], *, sent_now=False
):
    """The answer's events; ``sent_now``: it was queued a moment ago, so it is on its way
    even if its stream has yet to begin."""
    redis = streams.async_client(read_timeout=BLOCK_MS / 1000 + 10)
    key = streams.stream_key(message.public_id)
    loop = asyncio.get_running_loop()
    closes_at = loop.time() + MAX_CONNECTION_SECONDS
    cursor = "0-0"
    text = ""
    answer = GrowingAnswer(pseudonymiser.values())
    told_not_started = False
    where = None if sent_now or await redis.exists(key) else await _whereabouts(message.pk)
    if where == SETTLED:
        yield _event("end", "")
        return
    yield b"retry: 1000\n\n"
    while loop.time() < closes_at:
        if where == NOT_STARTED and not told_not_started:
            told_not_started = True
            yield _event("waiting", NOT_STARTED_HTML)
        batches = await redis.xread({key: cursor}, count=1000, block=BLOCK_MS)
        if not batches:
            where = await _whereabouts(message.pk)
            if where == SETTLED:
                yield _event("end", "")
                return
            yield b": waiting\n\n"
            continue
        ended, line = False, ""  # line: what shows in place of the answer while none came
        for entry_id, fields in batches[0][1]:
            cursor = entry_id.decode()
            kind = fields.get(b"t")
            if kind == b"start":
                text = ""
                if told_not_started:  # its model started on it after all
                    line, told_not_started, where = STARTED_HTML, False, None
            elif kind == b"wait":
                line = WAITING_HTML
            elif kind == b"chunk":
                text += fields.get(b"text", b"").decode()
            elif kind == b"end":
                ended = True
        rendered = False
        if line and not text:
            yield _event("waiting", line)
        if text and _entry(cursor) > resume:
            html = answer.html(text)
            yield _event("chunk", html, event_id=cursor)
            rendered = True
        if ended:
            yield _event("end", "", event_id=cursor)
            return
        if rendered:
            # The first chunk went out at once; what comes meanwhile joins the next render.
            await asyncio.sleep(1 / RENDERS_PER_SECOND)


@sync_to_async
def _whereabouts(pk: int) -> str:
    """Where the answer is (:func:`chat.answering.whereabouts`); one whose worker was lost is
    failed here as the sweeper fails it (the sweeper's worker may be the one that is down)."""
    try:
        return whereabouts(pk)
    finally:
        # A stream must not sit on a connection between look-ups, unless it is the shared one.
        if not on_shared_thread.get() and not connection.in_atomic_block:
            connection.close()


def _entry(entry_id: str) -> tuple[int, int]:
    milliseconds, sequence = entry_id.split("-")
    return int(milliseconds), int(sequence)


def _event(name: str, data: str, *, event_id: str = "") -> bytes:
    lines = [f"event: {name}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in (data.split("\n") if data else [""]))
    return ("\n".join(lines) + "\n\n").encode()
