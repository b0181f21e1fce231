"""The Celery broker: Steward's Redis transport and the settings Celery reads."""

import copy
import json
import socket
from base64 import b64decode
from unittest import mock

import pytest
import redis
from django.conf import settings

from chat.tasks import generate_answer
from config import broker
from config.celery import app

QUEUE = "steward-test-broker"


def test_a_channel_publishes_every_message_with_the_one_client_it_made(redis_server, monkeypatch):
    made = []
    create_client = broker.kombu_redis.Channel._create_client

    def counted(self, asynchronous=False):
        made.append(asynchronous)
        return create_client(self, asynchronous)

    monkeypatch.setattr(broker.kombu_redis.Channel, "_create_client", counted)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, broker.Channel)
        producer = connection.Producer(channel)
        for number in range(3):
            producer.publish({"number": number}, routing_key=QUEUE, serializer="json")
    client = redis.Redis.from_url(redis_server)
    try:
        assert client.llen(QUEUE) == 3  # every message reached the queue
    finally:
        client.delete(QUEUE)
        client.close()
    assert made.count(False) <= 1  # kombu's own channel made a client for each of the three


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


def test_publish_pushes_the_message_apply_async_would(redis_server, not_eager):
    client = redis.Redis.from_url(redis_server)
    try:
        broker.publish(generate_answer, QUEUE, 42)
        broker.publish(generate_answer, QUEUE, 43)
        generate_answer.apply_async(args=[42], queue=QUEUE)
        lean, other, celerys = _pushed(client, QUEUE)
    finally:
        client.delete(QUEUE)
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


def test_publish_sets_its_marker_with_the_message(redis_server, not_eager):
    client = redis.Redis.from_url(redis_server)
    marker = "steward-test-broker-marker"
    try:
        broker.publish(generate_answer, QUEUE, 5, marker=(marker, 60))
        assert client.llen(QUEUE) == 1
        assert 0 < client.ttl(marker) <= 60
    finally:
        client.delete(QUEUE, marker)
        client.close()


def test_publish_leaves_nothing_behind_when_the_broker_is_down(redis_server, not_eager):
    broker.publish(generate_answer, QUEUE, 1)  # the message is made while Redis answers
    redis.Redis.from_url(redis_server).delete(QUEUE)
    down = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    with mock.patch.object(broker, "redis_client", return_value=down):
        with pytest.raises(redis.ConnectionError):
            broker.publish(generate_answer, QUEUE, 2, marker=("steward-test-broker-marker", 60))
    assert not redis.Redis.from_url(redis_server).exists("steward-test-broker-marker")


def test_publish_runs_an_eager_task_at_once():
    with mock.patch.object(generate_answer, "apply_async") as apply_async:
        broker.publish(generate_answer, QUEUE, 7)
    apply_async.assert_called_once_with(args=[7], queue=QUEUE)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_publish_on_another_transport_is_apply_async_and_pushes_nothing_else(
    redis_server, not_eager, monkeypatch
):
    """Over TLS (``rediss://``) kombu's own transport publishes: nothing can be captured
    there, and trying would push the placeholder task for real."""
    monkeypatch.setattr(app.conf, "broker_url", "rediss://127.0.0.1:6379/0")
    with mock.patch.object(generate_answer, "apply_async") as apply_async:
        broker.publish(generate_answer, "steward-test-broker-tls", 9)
    apply_async.assert_called_once_with(args=[9], queue="steward-test-broker-tls")
