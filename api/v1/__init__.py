"""The OpenAI-compatible endpoints: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Any OpenAI client works with ``base_url`` set to ``<Steward>/v1`` and a personal
API token as its key. A request goes through the chat's governed path
(:func:`chat.services.send_request`), then the web process streams the
answer itself (:mod:`api.relay`) with the real values put back. Errors have
OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, so the
clients raise their usual exceptions.

One module per part: ``problems`` (the errors), ``reading`` (what a request asks),
``governed`` (the path every answer takes, shared with :mod:`api.responses`),
``listing`` (``/v1/models``) and ``completions`` (``/v1/chat/completions``); the URLconf and
other modules import these names from here.
"""

from api.v1.completions import chat_completions
from api.v1.governed import Endpoint, Prepared, answer_request, streamed, tokens_used
from api.v1.listing import model, models, unknown
from api.v1.problems import bad, too_large
from api.v1.reading import (
    IGNORED,
    ROLES,
    UNSUPPORTED,
    Asked,
    refuse_unsupported,
    sampling_asked,
    text_of,
    within_limits,
)

__all__ = [
    "IGNORED",
    "ROLES",
    "UNSUPPORTED",
    "Asked",
    "Endpoint",
    "Prepared",
    "answer_request",
    "bad",
    "chat_completions",
    "model",
    "models",
    "refuse_unsupported",
    "sampling_asked",
    "streamed",
    "text_of",
    "tokens_used",
    "too_large",
    "unknown",
    "within_limits",
]
