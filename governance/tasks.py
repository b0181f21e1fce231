import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_CACHE_KEY = "steward:heartbeat"


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Beat sends this every 30 s; a worker answering proves beat, broker and worker are alive."""
    cache.set(HEARTBEAT_CACHE_KEY, time.time(), timeout=3600)
