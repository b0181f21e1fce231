"""Answers in transit: one Redis stream per answer, written by the worker, read by the page.

Entries are ``{"t": "chunk", "text": …}`` as the model writes, then one
``{"t": "end", "status": …}``. The text is what the model wrote (placeholders
included); the reader restores it for the author. Streams expire: an answer's
final text lives in the database, this is only the way there.
"""

import asyncio
import logging
import math
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redis.asyncio
from django.conf import settings
from django.db import transaction

from config.broker import redis_client

logger = logging.getLogger(__name__)

#: A stream nobody finishes (a worker killed at the wrong moment) goes away by itself.
LIVE_TTL_SECONDS = 3600
#: After the end, long enough for a reconnecting page to catch up.
ENDED_TTL_SECONDS = 300
CANCEL_TTL_SECONDS = 3600
#: When an answer's worker last said it was alive: kept a little longer than the sweeper's
#: give-up (90 s), past which it no longer matters.
SEEN_TTL_SECONDS = 120
#: An answer's queued mark: a little longer than the sweeper gives a queued answer (15
#: minutes), past which it no longer matters.
QUEUED_TTL_SECONDS = 16 * 60


def stream_key(message_id) -> str:
    return f"steward:answer:{message_id}"


def queued_key(message_id) -> str:
    """Set with an answer's task as it is pushed to the broker: while it lives, the task is
    in Redis's hands (``message_id``: the answer's row id, as the task is given)."""
    return f"steward:queued:{message_id}"


def cancel_key(message_id) -> str:
    return f"steward:cancel:{message_id}"


def alive_key(message_id) -> str:
    return f"steward:alive:{message_id}"


def owner_key(message_id) -> str:
    return f"steward:owner:{message_id}"


def seen_key(message_id) -> str:
    return f"steward:seen:{message_id}"


#: The process's Redis connection pool, the broker's.
client = redis_client


#: Blocking reads one event loop's shared client may hold at once: one per open answer
#: stream (redis-py's default pool stops at 100 and refuses the 101st stream).
MAX_STREAMS_PER_LOOP = 2_000

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = (
    weakref.WeakKeyDictionary()
)


def async_client(*, read_timeout: float) -> redis.asyncio.Redis:
    """The current event loop's Redis client (async pools cannot cross loops), shared.

    Each stream's blocking read holds one of its connections, given back to the
    pool for the next stream: a new client per stream connected, announced
    itself (CLIENT SETINFO) and selected its database first, about 2 ms before
    an answer's first event. Never close it: it is the loop's.

    ``read_timeout`` must outlast the longest blocking read (redis-py's own
    default, 5 s, would cut an ``XREAD BLOCK 5000`` short under load).
    """
    clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
    if read_timeout not in clients:
        clients[read_timeout] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=5,
            socket_timeout=read_timeout,
            max_connections=MAX_STREAMS_PER_LOOP,
        )
    return clients[read_timeout]


class AnswerWriter:
    """Appends one answer's chunks; cheap enough to call for every token."""

    def __init__(self, message_id, redis_client: redis.Redis | None = None):
        self.key = stream_key(message_id)
        self.redis = redis_client or client()

    def start(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        self.restart(pipe)
        pipe.execute()

    def restart(self, pipe) -> None:
        """Queue on ``pipe`` what :meth:`start` does: the stream begins afresh."""
        pipe.delete(self.key)
        pipe.xadd(self.key, {"t": "start"})
        pipe.expire(self.key, LIVE_TTL_SECONDS)

    def chunk(self, text: str) -> None:
        """Append ``text`` to the stream :meth:`start` began, never to one dropped since (its
        conversation deleted): a stream made again here would have no expiry. (NOMKSTREAM
        costs nothing; an ``expire`` with every chunk cost a round trip's worth more.)"""
        self.redis.xadd(self.key, {"t": "chunk", "text": text}, nomkstream=True)

    def wait(self) -> None:
        """The backend has the answer in its queue (the built-in model answers one at a
        time): the page says so until the first words."""
        self.redis.xadd(self.key, {"t": "wait"}, nomkstream=True)

    def end(self, status: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(self.key, {"t": "end", "status": status})
        pipe.expire(self.key, ENDED_TTL_SECONDS)
        pipe.execute()


@contextmanager
def held_writer(message_id) -> Iterator[AnswerWriter]:
    """A writer for an answer's whole stream, on one connection taken from the pool for
    it: the pool checks a connection each time it hands one out (a poll of its socket),
    which cost a sixth of a worker's time at one command per chunk."""
    held = redis.Redis(connection_pool=client().connection_pool, single_connection_client=True)
    try:
        yield AnswerWriter(message_id, held)
    finally:
        held.close()  # back to the pool


def request_cancel(message_id) -> None:
    client().set(cancel_key(message_id), b"1", ex=CANCEL_TTL_SECONDS)


def begin_answer(
    message_id, attempt: int, *, alive_ttl_seconds: int, redis_client: redis.Redis | None = None
) -> bool:
    """A worker has claimed the answer, in one round trip (on ``redis_client``, if given: the
    answer's held writer's): its first heartbeat, which attempt owns it now (an earlier
    one that finds this changed stops), and its stream begun afresh. Returns whether its
    author asked to stop (before this attempt began: while its last worker was silent)."""
    pipe = (redis_client or client()).pipeline(transaction=False)
    pipe.exists(cancel_key(message_id))
    pipe.incr(alive_key(message_id))
    pipe.expire(alive_key(message_id), alive_ttl_seconds)
    pipe.set(seen_key(message_id), time.time(), ex=SEEN_TTL_SECONDS)
    pipe.set(owner_key(message_id), attempt, ex=LIVE_TTL_SECONDS)
    AnswerWriter(message_id).restart(pipe)
    return bool(pipe.execute()[0])


def poll(message_id) -> tuple[bool, int | None]:
    """Whether a stop was asked for, and which attempt owns the answer (one round trip)."""
    pipe = client().pipeline(transaction=False)
    pipe.exists(cancel_key(message_id))
    pipe.get(owner_key(message_id))
    cancelled, owner = pipe.execute()
    return bool(cancelled), None if owner is None else int(owner)


#: One heartbeat for each answer (KEYS: its alive, cancel and seen keys, by threes) that is
#: not asked to stop; the 1-based places of those that are. In one script, so that a beat
#: cannot fall between a purge's or an erasure's ``forget`` (which sets the flag) and bring
#: the keys it dropped back.
_BEAT = """
local stopped = {}
for i = 1, #KEYS, 3 do
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then
    stopped[#stopped + 1] = (i + 2) / 3
  else
    redis.call('INCR', KEYS[i])
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    redis.call('SET', KEYS[i + 2], ARGV[2], 'EX', ARGV[3])
  end
end
return stopped
"""


def beat(*message_ids, ttl_seconds: int) -> set:
    """Say the answers' worker is alive: one more beat each, valid for ``ttl_seconds``.
    Returns those of ``message_ids`` whose author asked to stop (in the same round trip);
    they get no beat (their worker stops at once, or is taken over and the stop honoured)."""
    keys = [
        key
        for message_id in message_ids
        for key in (alive_key(message_id), cancel_key(message_id), seen_key(message_id))
    ]
    places = client().eval(
        _BEAT, len(keys), *keys, ttl_seconds, repr(time.time()), SEEN_TTL_SECONDS
    )
    return {message_ids[place - 1] for place in places}


def beats(message_id) -> int | None:
    """How many heartbeats the answer's worker has given; None when it has gone silent."""
    value = client().get(alive_key(message_id))
    return None if value is None else int(value)


def stop_beat(message_id) -> None:
    """The answer's worker stops beating (it settles next). When it was last seen stays:
    a sweep between the two then re-queues the answer (its task finds it settled) rather
    than failing a finished answer as lost."""
    client().delete(alive_key(message_id))


def liveness(message_id) -> tuple[bool, float | None, bool]:
    """Whether the answer's worker is alive, when it last said so (a Unix time; None when no
    worker has for ``SEEN_TTL_SECONDS``), and whether its author asked to stop it, in one
    round trip."""
    pipe = client().pipeline(transaction=False)
    pipe.exists(alive_key(message_id))
    pipe.get(seen_key(message_id))
    pipe.exists(cancel_key(message_id))
    alive, seen, stop_asked = pipe.execute()
    return bool(alive), None if seen is None else float(seen), bool(stop_asked)


#: How long a process trusts what it last read of the unreachable backends: a round trip
#: less for nearly every message, and another process's news at most this late.
UNREACHABLE_READ_SECONDS = 1.0
_unreachable_read: dict[tuple[str, ...], tuple[float, frozenset[str]]] = {}


#: A backend that could not be reached is tried after the others for this long.
UNREACHABLE_FOR_SECONDS = 60


def mark_unreachable(backend_id, seconds: int = UNREACHABLE_FOR_SECONDS) -> None:
    """Remember, for a while, that a backend could not be reached: a hint for the next
    choice, so Redis gone costs only the hint (the answer that found the backend down
    still fails as the connection's, rather than as something unexpected)."""
    try:
        client().set(f"steward:unreachable:{backend_id}", b"1", ex=seconds)
    except redis.RedisError as exc:
        logger.warning("backend %s not noted as unreachable (%s)", backend_id, type(exc).__name__)
    _unreachable_read.clear()


def unreachable(backend_ids) -> frozenset[str]:
    """Which of these backends could not be reached lately (as read within
    ``UNREACHABLE_READ_SECONDS``, or as this process marked them since)."""
    keys = tuple(str(key) for key in backend_ids)
    read_at, down = _unreachable_read.get(keys, (-math.inf, frozenset()))
    if time.monotonic() - read_at < UNREACHABLE_READ_SECONDS:
        return down
    found = client().mget([f"steward:unreachable:{key}" for key in keys]) if keys else []
    down = frozenset(key for key, value in zip(keys, found, strict=True) if value is not None)
    if len(_unreachable_read) > 64:  # policies come and go; their backend lists with them
        _unreachable_read.clear()
    _unreachable_read[keys] = (time.monotonic(), down)
    return down


def text_of(message_id) -> str:
    """Every chunk the stream holds, joined (an answer that is not kept is read from here)."""
    entries = client().xrange(stream_key(message_id))
    return "".join(
        fields[b"text"].decode() for _, fields in entries if fields.get(b"t") == b"chunk"
    )


def stop_on_commit(message_ids: list, *, ended: list = ()) -> list:
    """Once the transaction commits, stop these answers on their way and drop their streams
    (:func:`forget`): their conversation is being deleted or redacted. Returns them.
    ``ended``: answers already ended whose streams are dropped too, in the same round trip."""
    if message_ids or ended:
        transaction.on_commit(lambda: forget(*ended, stopping=message_ids), robust=True)
    return message_ids


def forget(*message_ids, stopping=()) -> None:
    """Drop answers' streams and flags (before a retry, or when they are deleted), in one
    round trip. ``stopping``: answers still in flight whose conversation is gone (deleted,
    purged, erased from); their worker is asked to stop, and its chunks meanwhile do not
    bring the stream back (:meth:`AnswerWriter.chunk`)."""
    pipe = client().pipeline(transaction=False)
    for message_id in {*message_ids, *stopping}:
        pipe.delete(
            stream_key(message_id),
            cancel_key(message_id),
            alive_key(message_id),
            owner_key(message_id),
            seen_key(message_id),
        )
    for message_id in stopping:
        pipe.set(cancel_key(message_id), b"1", ex=CANCEL_TTL_SECONDS)
    pipe.execute()
