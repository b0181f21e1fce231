"""The Celery broker: Steward's Redis transport and the settings Celery reads."""

import copy
import json
import socket
from base64 import b64decode
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock
from uuid import uuid4

import pytest
import redis
from django.conf import settings

from chat.tasks import generate_answer
from config import broker
from config.celery import app


@pytest.fixture
def queue() -> str:
    """A queue of this test's own: another test run on the same Redis (a second checkout's,
    a worker's) never pushes to it, nor reads it."""
    return f"steward-test-broker-{uuid4().hex}"


@pytest.fixture
def marker() -> str:
    return f"steward-test-broker-marker-{uuid4().hex}"


def test_a_channel_publishes_every_message_with_the_one_client_it_made(
    redis_server, monkeypatch, queue
):
    made = []
    create_client = broker.kombu_redis.Channel._create_client

    def counted(self, asynchronous=False):
        # By channel: a thread an earlier test left running may make clients of its own.
        made.append((self, asynchronous))
        return create_client(self, asynchronous)

    monkeypatch.setattr(broker.kombu_redis.Channel, "_create_client", counted)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, broker.Channel)
        producer = connection.Producer(channel)
        for number in range(3):
            producer.publish({"number": number}, routing_key=queue, serializer="json")
    client = redis.Redis.from_url(redis_server)
    try:
        assert client.llen(queue) == 3  # every message reached the queue
    finally:
        client.delete(queue)
        client.close()
    # Kombu's own channel made a client for each of the three.
    assert [made_by for made_by, asynchronous in made if not asynchronous].count(channel) <= 1


def test_celery_reads_the_celery_settings_of_django():
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.broker_url.startswith(broker.SCHEME)
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.broker_transport_options == settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert app.conf.task_always_eager is settings.CELERY_TASK_ALWAYS_EAGER
    assert app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE


@pytest.fixture
def not_eager():
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


def _pushed(client, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in reversed(client.lrange(queue, 0, -1))]


def _without_ids(message: dict) -> dict:
    message = copy.deepcopy(message)
    for name in ("id", "root_id"):
        message["headers"].pop(name)
    for name in ("correlation_id", "delivery_tag"):
        message["properties"].pop(name)
    return message


def test_publish_pushes_the_message_apply_async_would(redis_server, not_eager, queue):
    client = redis.Redis.from_url(redis_server)
    try:
        broker.publish(generate_answer, queue, 42)
        broker.publish(generate_answer, queue, 43)
        generate_answer.apply_async(args=[42], queue=queue)
        lean, other, celerys = _pushed(client, queue)
    finally:
        client.delete(queue)
        client.close()
    assert _without_ids(lean) == _without_ids(celerys)  # body, headers and properties alike
    assert json.loads(b64decode(other["body"]))[0] == [43]
    assert other["headers"]["argsrepr"] == "[43]"
    ids = {lean["headers"]["id"], other["headers"]["id"], celerys["headers"]["id"]}
    assert len(ids) == 3  # every publish is a task of its own
    for message in (lean, other):
        task_id = message["headers"]["id"]
        assert message["headers"]["root_id"] == message["properties"]["correlation_id"] == task_id
    assert lean["properties"]["delivery_tag"] != other["properties"]["delivery_tag"]


def test_publish_sets_its_marker_with_the_message(redis_server, not_eager, queue, marker):
    client = redis.Redis.from_url(redis_server)
    try:
        broker.publish(generate_answer, queue, 5, marker=(marker, 60))
        assert client.llen(queue) == 1
        assert 0 < client.ttl(marker) <= 60
    finally:
        client.delete(queue, marker)
        client.close()


def test_publish_leaves_nothing_behind_when_the_broker_is_down(
    redis_server, not_eager, queue, marker
):
    client = redis.Redis.from_url(redis_server)
    try:
        broker.publish(generate_answer, queue, 1)  # the message is made while Redis answers
        client.delete(queue)
        with _closed_port() as port:
            down = redis.Redis(
                host="127.0.0.1", port=port, socket_connect_timeout=5, socket_timeout=5
            )
            with mock.patch.object(broker, "redis_client", return_value=down):
                with pytest.raises(redis.ConnectionError):
                    broker.publish(generate_answer, queue, 2, marker=(marker, 60))
        assert not client.exists(marker)
        assert not client.exists(queue)
    finally:
        client.delete(queue, marker)
        client.close()


def test_publish_runs_an_eager_task_at_once(queue):
    with mock.patch.object(generate_answer, "apply_async") as apply_async:
        broker.publish(generate_answer, queue, 7)
    apply_async.assert_called_once_with(args=[7], queue=queue)


@contextmanager
def _closed_port() -> Iterator[int]:
    """A port nothing answers on (refused at once), held for the block: bound and not
    listening, no other test's server can be given it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_publish_on_another_transport_is_apply_async_and_pushes_nothing_else(
    redis_server, not_eager, monkeypatch
):
    """Over TLS (``rediss://``) kombu's own transport publishes: nothing can be captured
    there, and trying would push the placeholder task for real."""
    monkeypatch.setattr(app.conf, "broker_url", "rediss://127.0.0.1:6379/0")
    with mock.patch.object(generate_answer, "apply_async") as apply_async:
        broker.publish(generate_answer, "steward-test-broker-tls", 9)
    apply_async.assert_called_once_with(args=[9], queue="steward-test-broker-tls")
