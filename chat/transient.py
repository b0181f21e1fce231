"""Conversations in a category that keeps no content: the text passes through, never stored.

A category without a retention window (and not blocked) keeps only metadata:
sizes, the decision, finding types, the audit events. The question, as it is
sent (placeholders in place) with its placeholder mapping, is sealed with the
conversation's data key and held in Redis for ``TTL_SECONDS``: the worker reads
it to call the backend, and the author's page reads it to show the turn. The
answer is what its Redis stream holds, for a few minutes after it ends. Then
only the metadata remains: the answer was shown once.
"""

import redis

from chat import streams
from chat.models import Conversation, Message
from chat.pseudonyms import Pseudonymiser

#: Long enough for a queued answer to be picked up (the sweeper gives up after 15 minutes).
TTL_SECONDS = 20 * 60


class TransientUnavailable(Exception):
    """Redis, which holds the text in transit, could not take it: nothing is sent."""


def keeps_content(conversation: Conversation) -> bool:
    return conversation.category.stores_content


def keep(conversation: Conversation, answer_id, parts, mapping: dict) -> None:
    """Hold the outgoing question for its answer (sealed); raises TransientUnavailable."""
    blob = conversation.key.seal_json(
        {"parts": [list(part) for part in parts], "mapping": mapping}, _context(answer_id)
    )
    try:
        streams.client().set(_key(answer_id), blob, ex=TTL_SECONDS)
    except redis.RedisError as exc:
        raise TransientUnavailable from exc


def load(conversation: Conversation, answer_id) -> dict | None:
    """The held question (``parts`` as sent, ``mapping``), or None once it has expired."""
    try:
        blob = streams.client().get(_key(answer_id))
    except redis.RedisError:
        return None
    return None if blob is None else conversation.key.open_json(blob, _context(answer_id))


def mapping_for(answer: Message) -> dict:
    """The placeholder mapping an answer's reader restores with."""
    if keeps_content(answer.conversation):
        return answer.conversation.pseudonyms()
    held = load(answer.conversation, answer.public_id)
    return held["mapping"] if held else {}


def question_text(question: Message) -> str:
    """What the author wrote, while it is held (placeholders restored); "" after."""
    answer = getattr(question, "answer", None)
    held = load(question.conversation, answer.public_id) if answer else None
    if not held:
        return ""
    from chat.services import PART_SEPARATOR  # services imports this module

    restorer = Pseudonymiser(held["mapping"])
    return restorer.restore(PART_SEPARATOR.join(text for _, text in held["parts"]))


def answer_text(answer: Message) -> str:
    """What the model wrote, while its stream lasts (placeholders not yet restored); "" after."""
    try:
        return streams.text_of(answer.public_id)
    except redis.RedisError:
        return ""


def forget(answer_id) -> None:
    try:
        streams.client().delete(_key(answer_id))
    except redis.RedisError:
        pass  # it expires on its own


def _key(answer_id) -> str:
    return f"steward:transient:{answer_id}"


def _context(answer_id) -> str:
    return f"transient:{answer_id}"
