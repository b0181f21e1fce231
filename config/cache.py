"""Django's Redis cache with one connection pool per process.

Django makes a cache object per thread and per async context, and each makes
its own connection pool: under ASGI, every request opened (and greeted, and
dropped) a Redis connection of its own. Here every cache object of a process
shares one pool per server (redis-py's pools are thread-safe and start afresh
after a fork).
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[str, object] = {}
_pools_lock = threading.Lock()


class _SharedPoolClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        server = self._servers[self._get_connection_pool_index(write)]
        pool = _pools.get(server)
        if pool is None:
            with _pools_lock:
                pool = _pools.get(server)
                if pool is None:
                    pool = _pools[server] = self._pool_class.from_url(server, **self._pool_options)
        return pool


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedPoolClient
