"""Requests per person per minute, counted in Redis (shared by every web process): all their
API tokens together (``user:<id>``), and apart from those the messages they send or retry in
the chat (``chat:<id>``, :mod:`chat.views`), each to the same limit; and the chat's live
previews (``preview:<id>``), to a larger one of their own."""

import logging
import time

from django.conf import settings

from chat import streams

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


class RateLimited(Exception):
    def __init__(self, wait: int):
        super().__init__(f"Too many requests with your API tokens; retry in {wait} s.")
        self.wait = wait


def retry_after(key: str, *, limit: int | None = None) -> int | None:
    """Count one request for ``key``: None if it may go on, else the seconds to wait.

    ``limit`` a minute, ``STEWARD_API_REQUESTS_PER_MINUTE`` unless given. A fixed
    one-minute window (one round trip: increment and expire). If Redis cannot be
    reached the request goes on: the limit protects capacity, not the policy,
    which does not depend on it.
    """
    if limit is None:
        limit = settings.STEWARD_API_REQUESTS_PER_MINUTE
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    name = f"steward:ratelimit:{key}:{window}"
    try:
        pipe = streams.client().pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, WINDOW_SECONDS + 1)
        count, _ = pipe.execute()
    except Exception as exc:  # the many ways of Redis being away
        logger.warning("rate limit not counted: %s", type(exc).__name__)
        return None
    if count <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
