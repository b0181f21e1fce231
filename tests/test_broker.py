"""The Celery broker: Steward's Redis transport and the settings Celery reads."""

import redis
from django.conf import settings

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
