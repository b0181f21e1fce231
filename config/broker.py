"""Kombu's Redis transport, with the client that publishes made once per channel.

Kombu made a new ``redis.Redis`` for every message it published, and redis-py
fills some 300 response callbacks into a case-insensitive table each time one
is made: a fifth of the instructions of a task's ``apply_async``, on the way of
every answer to its worker (bench/chat.py). A channel is used by one thread at
a time (Celery's producer pool hands it out), so one client per channel serves
it; its connections still come from the channel's pool.

Registered as the transport ``stewardredis``: the broker URL names it
(``stewardredis://host:6379/0``, ``stewardredis+socket:///path``).

:func:`publish` hands an answer's task to Redis without ``apply_async``, from a message
Celery built once (captured by this transport's channel instead of pushed).
"""

import json
import os
import threading
from base64 import b64decode, b64encode
from functools import cache
from typing import TYPE_CHECKING
from uuid import uuid4

import redis
from django.conf import settings
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

if TYPE_CHECKING:
    from celery import Task

SCHEME = "stewardredis"

_capture = threading.local()


class Channel(kombu_redis.Channel):
    _publishing_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        if self._publishing_client is None:
            self._publishing_client = super()._create_client()
        return self._publishing_client

    def _put(self, queue, message, **kwargs):
        captured = getattr(_capture, "into", None)
        if captured is None:
            super()._put(queue, message, **kwargs)
            return
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        captured.append((key, message, bool(self._expires and queue in self._expires)))


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


def publish(
    task: "Task", queue: str, argument: int, *, marker: tuple[str, int] | None = None
) -> None:
    """``task.apply_async(args=[argument], queue=queue)`` in a tenth of its CPU.

    ``marker``: a Redis key and its time to live in seconds, set with the push in one
    transaction (MULTI): while it lives, the message is in the broker's hands.

    Celery spends some 0.8 ms of CPU on routing, configuration look-ups and
    copies of kombu's entities before the one LPUSH that delivers a task, on the
    way of every answer to its worker. Here Celery builds the message once per
    task, queue and process (its own code, captured instead of pushed); each
    publish changes the task's id and argument in it and pushes it. Where no
    message can be captured (eager tasks, another transport), it is
    ``apply_async`` itself.
    """
    eager = task.app.conf.task_always_eager
    template = None if eager else _template(task, queue, os.getpid())
    if template is None:
        task.apply_async(args=[argument], queue=queue)
        if marker is not None and not eager:
            redis_client().set(marker[0], 1, ex=marker[1])
        return
    if marker is None:
        redis_client().lpush(*template.message(argument))
        return
    with redis_client().pipeline(transaction=True) as both:
        both.lpush(*template.message(argument))
        both.set(marker[0], 1, ex=marker[1])
        both.execute()


class _Template:
    """A task's message as Celery built it for a placeholder id and argument."""

    ID, ARGUMENT = "00000000-0000-4000-8000-000000000000", 0

    def __init__(self, key: str, message: dict) -> None:
        self.key = key
        self.envelope = {k: v for k, v in message.items() if k not in ("headers", "properties")}
        self.headers = message["headers"]
        self.properties = message["properties"]
        self.id_headers = [k for k, v in self.headers.items() if v == self.ID]
        self.id_properties = [k for k, v in self.properties.items() if v == self.ID]
        self.args, self.kwargs, self.embed = json.loads(_decoded(message["body"]))

    @classmethod
    def of(cls, key: str, message: dict) -> "_Template | None":
        """The template, if the message is one this class knows how to vary."""
        try:
            template = cls(key, message)
        except (KeyError, ValueError, TypeError):
            return None
        known = (
            template.args == [cls.ARGUMENT]
            and template.kwargs == {}
            and template.headers.get("argsrepr") == repr([cls.ARGUMENT])
            and template.headers.get("eta") is None
            and template.headers.get("expires") is None
            and template.properties.get("body_encoding") == "base64"
            and message.get("content-type") == "application/json"
            and "delivery_tag" in template.properties
            and template.id_headers
        )
        return template if known else None

    def message(self, argument: int) -> tuple[str, str]:
        """The queue's key and the message to push for ``argument``."""
        task_id = str(uuid4())
        body = json.dumps([[argument], self.kwargs, self.embed]).encode()
        headers = {**self.headers, "argsrepr": repr([argument])}
        properties = {**self.properties, "delivery_tag": str(uuid4())}
        for name in self.id_headers:
            headers[name] = task_id
        for name in self.id_properties:
            properties[name] = task_id
        message = {
            **self.envelope,
            "body": b64encode(body).decode(),
            "headers": headers,
            "properties": properties,
        }
        return self.key, json.dumps(message)


def _decoded(body: str) -> str:
    return b64decode(body).decode()


@cache
def _template(task: "Task", queue: str, pid: int) -> _Template | None:
    """Celery's own message for the task on the queue, captured on its way to Redis."""
    if not (task.app.conf.broker_url or "").startswith(SCHEME):
        return None  # kombu's own transport (rediss://) would push the placeholder task
    captured: list = []
    _capture.into = captured
    try:
        task.apply_async(args=[_Template.ARGUMENT], queue=queue, task_id=_Template.ID)
    finally:
        _capture.into = None
    if len(captured) != 1:
        return None  # another transport: nothing was captured
    key, message, expires = captured[0]
    return None if expires else _Template.of(key, message)


@cache
def redis_client() -> redis.Redis:
    """The process's Redis connection pool (redis-py re-creates it after a fork): the
    broker's Redis (CELERY_BROKER_URL is made from REDIS_URL), also the answers' streams'."""
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=10,
        socket_connect_timeout=5,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
    )
