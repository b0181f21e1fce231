"""Django's Redis cache shares one connection pool per server across the process."""

import threading
import uuid

import pytest
from django.core.cache import caches
from django.test import override_settings

from config.cache import SharedPoolRedisCache


@pytest.fixture
def key():
    """A key no other test or run uses."""
    return f"test-cache-{uuid.uuid4().hex}"


def _pool(cache):
    return cache._cache.get_client(write=True).connection_pool


def test_it_gives_two_cache_objects_the_same_pool(redis_server, key):
    first = SharedPoolRedisCache(redis_server, {"KEY_PREFIX": "steward-test"})
    second = SharedPoolRedisCache(redis_server, {"KEY_PREFIX": "steward-test"})
    assert _pool(first) is _pool(second)
    assert _pool(first) is first._cache.get_client(write=False).connection_pool
    try:
        first.set(key, {"seen": "through the other"})
        assert second.get(key) == {"seen": "through the other"}
    finally:
        first.delete(key)


def test_it_shares_the_pool_between_the_cache_objects_of_two_threads(redis_server, key):
    backend = {
        "BACKEND": "config.cache.SharedPoolRedisCache",
        "LOCATION": redis_server,
        "KEY_PREFIX": "steward-test",
    }
    found = {}

    def elsewhere():
        cache = caches["default"]  # Django makes one per thread
        found["cache"], found["pool"] = cache, _pool(cache)
        cache.set(key, "from another thread")

    with override_settings(CACHES={"default": backend}):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        here = caches["default"]
        try:
            assert here is not found["cache"]
            assert _pool(here) is found["pool"]
            assert here.get(key) == "from another thread"
        finally:
            here.delete(key)


def test_its_pool_is_as_large_as_the_settings_say(redis_server, monkeypatch):
    """redis-py 8's pools stop at 100 connections unless told otherwise."""
    from config import cache as shared
    from config import settings as production

    monkeypatch.setattr(shared, "_pools", {})
    params = {**production.CACHES["default"], "LOCATION": redis_server}
    cache = SharedPoolRedisCache(redis_server, params)
    assert _pool(cache).max_connections == production.REDIS_MAX_CONNECTIONS > 100
