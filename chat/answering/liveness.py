"""Whether a worker is at an answer: the heartbeats of the answers a process streams, and
how long an answer has been silent.

A beat is a counter in Redis with a time to live; the same round trip reads the answers'
stop flags. A redelivered task, the sweeper and whoever waits on an answer read the beats.
"""

import logging
import os
import threading
import time
from contextlib import contextmanager

import redis
from django.utils import timezone

from chat import streams
from chat.models import Message

logger = logging.getLogger(__name__)

#: How often a working answer says it is alive (a counter in Redis, with a time to live).
HEARTBEAT_SECONDS = 2
#: A heartbeat lives this long: a worker killed outright is silent within seconds.
ALIVE_TTL_SECONDS = 3 * HEARTBEAT_SECONDS


def _silent_for(answer: Message, seen: float | None, now) -> float:
    """Seconds since a STREAMING answer's worker last said it was alive: its last heartbeat
    (``seen``, a Unix time) or its claim, whichever came later."""
    claimed = answer.started_at.timestamp() if answer.started_at else 0
    return now.timestamp() - max(claimed, seen or 0)


def _still_beating(answer: Message) -> bool:
    """Whether another worker is at this answer: its heartbeat goes on (watched for two
    beats), or, with none yet, it was claimed too lately to have given its first (watched
    until a heartbeat's lifetime after the claim: two copies of a lost answer's task, the
    broker's and the sweeper's, reach the same worker, and the second found the first's
    take-over not yet beating, took the answer over again, and the third failed it)."""
    seen = streams.beats(answer.public_id)
    if seen is not None:
        watch = 2 * HEARTBEAT_SECONDS + 1
    else:  # within a heartbeat's lifetime, whatever another worker's clock stamped
        watch = min(
            ALIVE_TTL_SECONDS, ALIVE_TTL_SECONDS - _silent_for(answer, None, timezone.now())
        )
    deadline = time.monotonic() + watch
    while time.monotonic() < deadline:
        time.sleep(HEARTBEAT_SECONDS / 4)
        now = streams.beats(answer.public_id)
        if now != seen:
            return now is not None
    return False


@contextmanager
def _heartbeat(public_id, cancel: threading.Event, *, begun: bool):
    """Keep the answer's liveness key fresh while the backend thinks (chunks or not), set
    ``cancel`` when a beat finds its author asked to stop, and drop the key at the end, if
    it was set: by :func:`streams.begin_answer` (``begun``), or by a beat (an answer of a
    few ms, as most API answers are, gets none)."""
    _heartbeats.add(public_id, cancel)
    try:
        yield
    finally:
        if _heartbeats.discard(public_id) or begun:
            _stop_beat(public_id)


def _stop_beat(public_id) -> None:
    """End the answer's heartbeat; with Redis gone, its key expires by itself (an answer
    that streamed whole is not failed for it)."""
    try:
        streams.stop_beat(public_id)
    except redis.RedisError as exc:
        logger.warning("answer %s: its heartbeat not ended (%s)", public_id, type(exc).__name__)


class _Heartbeats:
    """One thread per process beats for every answer the process is streaming, in one
    Redis round trip every ``HEARTBEAT_SECONDS`` (a web process streams many answers
    at once; a thread started and joined for each cost more than its answer's beats).
    The same round trip reads the answers' stop flags: a stop pressed while the backend
    is silent (a reasoning model thinking, a built-in answer waiting for the model) sets
    the answer's cancel event, which the adapter looks at, rather than waiting for the
    next chunk to be looked at.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[object, threading.Event] = {}  # public id: the answer's cancel
        self._beaten: set = set()  # the live answers given a beat
        self._running = False

    def add(self, public_id, cancel: threading.Event) -> None:
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="heartbeats", daemon=True).start()
            self._live[public_id] = cancel

    def discard(self, public_id) -> bool:
        """Beat the answer no more; whether it had been given a beat."""
        with self._lock:
            self._live.pop(public_id, None)
            if public_id in self._beaten:
                self._beaten.discard(public_id)
                return True
            return False

    def _run(self) -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            self.beat_once()

    def beat_once(self) -> None:
        with self._lock:
            live = dict(self._live)
            self._beaten.update(live)
        if not live:
            return
        try:
            stopped = streams.beat(*live, ttl_seconds=ALIVE_TTL_SECONDS)
        except Exception:  # Redis gone: the streams fail too, and say so
            logger.warning("heartbeats of %d answers not recorded", len(live))
            return
        for public_id in stopped:
            live[public_id].set()


_heartbeats = _Heartbeats()
os.register_at_fork(after_in_child=_heartbeats.__init__)  # a forked worker starts afresh
