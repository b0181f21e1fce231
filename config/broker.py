"""Kombu's Redis transport, with the client that publishes made once per channel.

Kombu made a new ``redis.Redis`` for every message it published, and redis-py
fills some 300 response callbacks into a case-insensitive table each time one
is made: a fifth of the instructions of a task's ``apply_async``, on the way of
every answer to its worker (bench/chat.py). A channel is used by one thread at
a time (Celery's producer pool hands it out), so one client per channel serves
it; its connections still come from the channel's pool.

Registered as the transport ``stewardredis``: the broker URL names it
(``stewardredis://host:6379/0``, ``stewardredis+socket:///path``).
"""

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

SCHEME = "stewardredis"


class Channel(kombu_redis.Channel):
    _publishing_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        if self._publishing_client is None:
            self._publishing_client = super()._create_client()
        return self._publishing_client


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")


def broker_url(redis_url: str) -> str:
    """The Celery broker URL for a redis-py URL: on this transport, but for TLS (``rediss://``,
    which kombu's own transport sets up by its name). Kombu spells a unix socket
    ``+socket://`` where redis-py says ``unix://``."""
    if redis_url.startswith("unix://"):
        return f"{SCHEME}+socket://" + redis_url.removeprefix("unix://")
    if redis_url.startswith("redis://"):
        return f"{SCHEME}://" + redis_url.removeprefix("redis://")
    return redis_url
