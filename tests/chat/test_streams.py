"""The answers' Redis streams: the async client the event streams read them with."""

import asyncio
from contextlib import ExitStack

from chat import streams


def test_the_streams_of_one_event_loop_share_a_client_and_its_connections(redis_server):
    async def read_twice():
        first = streams.async_client(read_timeout=15)
        first_connection = await first.client_id()
        second = streams.async_client(read_timeout=15)
        return first is second, first_connection == await second.client_id(), first

    shared, same_connection, client = asyncio.run(read_twice())
    assert shared and same_connection  # no new connection (connect, SETINFO, SELECT) each time

    async def elsewhere():
        return streams.async_client(read_timeout=15)

    assert asyncio.run(elsewhere()) is not client  # a pool cannot cross event loops


def test_blocking_reads_of_one_loop_each_get_a_connection(redis_server):
    key = streams.stream_key("test-concurrent-reads")

    async def read_while_another_waits():
        client = streams.async_client(read_timeout=15)
        waiting = asyncio.create_task(client.xread({key: "$"}, block=2_000))
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        await client.xadd(key, {"t": "start"})  # not queued behind the blocked read
        quick = asyncio.get_running_loop().time() - started < 1
        await waiting
        await client.delete(key)
        return quick

    assert asyncio.run(read_while_another_waits())


def test_more_streams_than_redis_pys_default_pool_read_at_once(redis_server):
    """redis-py's async pool stops at 100 connections; 200 open streams must all read."""
    keys = [streams.stream_key(f"test-many-{n}") for n in range(150)]

    async def read_all():
        client = streams.async_client(read_timeout=15)
        # Blocking up to 10 s (under the client's 15 s read timeout): the events come as soon
        # as every read is waiting, however long a busy machine takes to open 150 connections.
        reads = [asyncio.create_task(client.xread({key: "$"}, block=10_000)) for key in keys]
        await _waiting(client, reads)
        for key in keys:
            await client.xadd(key, {"t": "start"})
        results = await asyncio.gather(*reads, return_exceptions=True)
        await client.delete(*keys)
        return results

    results = asyncio.run(read_all())
    assert [r for r in results if isinstance(r, Exception)] == []
    assert all(results)  # every read got its event


async def _waiting(client, reads: list[asyncio.Task]) -> None:
    """Until Redis holds every one of ``reads`` blocked, or one has ended (refused a
    connection, say): a read reaching Redis after its event (a busy machine) would wait for
    the next one ("$"), and get none."""
    database = str(client.connection_pool.connection_kwargs.get("db", 0))
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        if any(read.done() for read in reads):
            return
        listed = await client.client_list()
        blocked = [c for c in listed if c["cmd"] == "xread" and "b" in c["flags"]]
        if sum(c["db"] == database for c in blocked) >= len(reads):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the {len(reads)} reads were not all waiting after 30 s")


def test_a_held_writer_writes_an_answer_on_one_connection_and_gives_it_back(redis_server):
    key = streams.stream_key("test-held-writer")
    pool = streams.client().connection_pool
    with streams.held_writer("test-held-writer") as writer:
        writer.start()
        ids = {writer.redis.client_id()}
        for text in ("Hello", ", ", "world"):
            writer.chunk(text)
            ids.add(writer.redis.client_id())
        writer.end("done")
        assert len(ids) == 1 and len(pool._in_use_connections) == 1
    assert not pool._in_use_connections  # back in the pool
    entries = streams.client().xrange(key)
    assert [e[b"t"] for _, e in entries] == [b"start", b"chunk", b"chunk", b"chunk", b"end"]
    streams.client().delete(key)


def test_a_process_streams_more_answers_at_once_than_redis_py_s_default_pool_allows(
    redis_server,
):
    """Each answer a worker streams holds a connection for its chunks; redis-py 8's pools
    stop at 100 unless told otherwise, and the 100th answer at once failed."""
    with ExitStack() as held:
        writers = [held.enter_context(streams.held_writer(f"test-{n}")) for n in range(150)]
        assert streams.poll("test-0") == (False, None)  # a connection more, for the look
        for writer in writers:
            writer.redis.delete(writer.key)


def test_a_chunk_does_not_bring_back_a_stream_dropped_meanwhile(redis_server):
    """Its conversation was deleted while the worker wrote: a stream made again by a chunk
    would have no expiry, and keep the text for good."""
    with streams.held_writer("test-dropped") as writer:
        writer.start()
        writer.chunk("Hello")
        streams.forget("test-dropped", stopping=["test-dropped"])
        writer.chunk(", world")
        writer.wait()
    assert not streams.client().exists(writer.key)
    assert streams.poll("test-dropped") == (True, None)  # and the worker is asked to stop
    streams.forget("test-dropped")
