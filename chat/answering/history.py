"""The messages an answer's backend is sent: a note about placeholders, then the
conversation's turns as they were sent, the newest kept within the backend's budget."""

from collections.abc import Iterator

from django.db import connection

from chat import llm, transient
from chat.models import Message, sealing_context
from chat.services import PART_SEPARATOR
from config.prepared import hot_cursor

#: The share of a backend's context budget the history may fill; the rest is the answer's.
HISTORY_SHARE = 0.75
#: Characters per token, counted low: code, and most languages but English, take more
#: tokens per character than English prose, and a history cut too late is refused.
CHARS_PER_TOKEN = 3
#: Turns read at once while the history is gathered, newest first.
HISTORY_PAGE = 50
SYSTEM_PROMPT = (
    "Some values in this conversation were replaced by placeholders in square brackets, "
    "such as [EMAIL_1] or [PERSON_2]. Keep every placeholder exactly as written, brackets "
    "included, wherever you refer to the value it stands for."
)


class _NotHeld(Exception):
    """The question of an answer whose category keeps no content has left Redis."""


def history_budget(backend) -> int:
    """How many characters of history go with a call to ``backend``: a share of its
    context budget (its own, or its kind's usual), the oldest turns left out first."""
    return int(backend.context_budget * HISTORY_SHARE) * CHARS_PER_TOKEN


def _history(answer: Message) -> list[llm.ChatMessage]:
    """The turns before this answer as the backend saw them, newest first within the budget.

    In a category that keeps no content there is no stored history: only the
    question, held in Redis for its answer (:mod:`chat.transient`).
    """
    if not transient.keeps_content(answer.conversation):
        held = transient.load(answer.conversation, answer.public_id)
        if held is None:
            raise _NotHeld
        asked = [llm.ChatMessage(role=role, content=text) for role, text in held["parts"]]
        return [llm.ChatMessage(role="system", content=SYSTEM_PROMPT), *asked]
    kept: list[llm.ChatMessage] = []
    budget = history_budget(answer.backend) - len(SYSTEM_PROMPT)
    for role, text, parts in _newest_first(answer):
        if not text.strip():
            continue  # an answer that came back empty
        if kept and len(text) > budget:
            break
        budget -= len(text)
        kept.extend(reversed(_as_sent(role, text, parts)))
    kept.reverse()
    # Every kind gets the turns Anthropic and Bedrock insist on (their adapters see to it
    # for any request): an OpenAI-compatible server's chat template may insist too.
    return [llm.ChatMessage(role="system", content=SYSTEM_PROMPT), *llm.alternating_turns(kept)]


def _as_sent(role: str, text: str, parts: list) -> list[llm.ChatMessage]:
    """A stored turn as the backend was given it: a request's turns with their roles
    (``parts``: [role, length] of each in ``text``, a blank line between), while they add up
    (an erasure may have redacted the text since); else one turn."""
    joined = sum(length for _, length in parts) + len(PART_SEPARATOR) * (len(parts) - 1)
    if not parts or joined != len(text):
        return [llm.ChatMessage(role=role, content=text)]
    turns, start = [], 0
    for part_role, length in parts:
        turns.append(llm.ChatMessage(role=part_role, content=text[start : start + length]))
        start += length + len(PART_SEPARATOR)
    return turns


# Of each turn, what opens its text and the text itself, sealed: a question's as it was
# sent (placeholders and all), if anything was replaced in it; else its content.
# (Whole rows, five JSON fields decoded and two sealed texts each, cost more than
# opening the texts.)
_HAS_SENT_TEXT = f"m.role = '{Message.Role.USER.value}' AND length(m.sent_sealed) > 0"
_HISTORY_SQL = (
    f"SELECT m.public_id, m.role, {_HAS_SENT_TEXT}, "
    f"CASE WHEN {_HAS_SENT_TEXT} THEN m.sent_sealed ELSE m.content_sealed END, m.parts "
    f"FROM {Message._meta.db_table} m "
    "WHERE m.conversation_id = %s AND m.created_at <= %s AND m.id <> %s "
    "AND ((m.role = %s AND m.status = %s) OR (m.role = %s AND m.status = %s)) "
    "AND length(m.content_sealed) > 0 "  # not the turns of a category that kept no content
    "ORDER BY m.created_at DESC, m.id DESC LIMIT %s OFFSET %s"
)


def _newest_first(answer: Message) -> Iterator[tuple[str, str, list]]:
    """(role, text as the backend was given it, its parts) of the turns sent and answered before
    ``answer``, newest first, a page at a time: most conversations fit in the first, one
    query whose SQL is built once (the ORM took longer to build it than to run it; a
    server-side cursor, ``iterator()``, cost three round trips and, outside a
    transaction, PostgreSQL keeping the whole result until it was closed)."""
    key = answer.conversation.key  # one data key, opened once
    to_uuid = Message._meta.get_field("public_id").to_python
    to_parts = Message._meta.get_field("parts").from_db_value
    before = connection.ops.adapt_datetimefield_value(answer.created_at)
    offset = 0
    while True:
        with hot_cursor() as cursor:
            cursor.execute(
                _HISTORY_SQL,
                [
                    answer.conversation_id,
                    before,
                    answer.pk,
                    Message.Role.USER,
                    Message.Status.SENT,
                    Message.Role.ASSISTANT,
                    Message.Status.DONE,
                    HISTORY_PAGE,
                    offset,
                ],
            )
            page = cursor.fetchall()
        for public_id, role, sent, sealed, parts in page:
            part = "sent" if sent else "content"
            text = key.open_text(bytes(sealed), sealing_context(to_uuid(public_id), part))
            yield role, text, to_parts(parts, None, connection) or []
        if len(page) < HISTORY_PAGE:
            return
        offset += HISTORY_PAGE
