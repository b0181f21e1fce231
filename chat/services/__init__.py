"""The governed path of a message, independent of views (the chat page and the API share it).

scan → decide → record (one transaction: the user's message, the decision, the
pending answer and the audit event) → pseudonymise → queue. The worker side
(stream, finish) is in :mod:`chat.answering`.

Sending, retrying and stopping are in :mod:`.sending`; a conversation's start, new title
and deletion in :mod:`.conversations`; the steps they share (scan and decide, pseudonymise,
lock, the audit event of a request) in :mod:`.steps`; which backend a message goes to in
:mod:`.routing`; handing an answer to its queue in :mod:`.queueing`.
"""

from chat.services.conversations import (
    HELD_FOR_NOW,
    delete_conversation,
    rename_conversation,
    start_conversation,
)
from chat.services.queueing import enqueue_answer, queue_for, queue_for_hosting
from chat.services.routing import (
    active_categories,
    backend_by_key,
    category_by_number,
    passed_over,
    preview,
)
from chat.services.sending import Sent, cancel_answer, retry_answer, send_message, send_request
from chat.services.steps import (
    MAX_MESSAGE_CHARS,
    NOT_SUBJECTS,
    PART_SEPARATOR,
    STILL_ON_ITS_WAY,
    TITLE_CHARS,
    AcknowledgementRequired,
    ChatError,
    clean_text,
    subject_digests,
    title_from,
)

__all__ = [
    "HELD_FOR_NOW",
    "MAX_MESSAGE_CHARS",
    "NOT_SUBJECTS",
    "PART_SEPARATOR",
    "STILL_ON_ITS_WAY",
    "TITLE_CHARS",
    "AcknowledgementRequired",
    "ChatError",
    "Sent",
    "active_categories",
    "backend_by_key",
    "cancel_answer",
    "category_by_number",
    "clean_text",
    "delete_conversation",
    "enqueue_answer",
    "passed_over",
    "preview",
    "queue_for",
    "queue_for_hosting",
    "rename_conversation",
    "retry_answer",
    "send_message",
    "send_request",
    "start_conversation",
    "subject_digests",
    "title_from",
]
