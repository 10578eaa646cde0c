"""The Redis client every process builds: a dead or stuck server fails a command within the
socket timeout instead of hanging it, a dropped connection is replaced, and commands still
share the pool and get their own replies."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bots.telegram.lua import LuaScript
from storage.redis_client import redis_client

TIMEOUT_S = 0.3
# Far above the timeout, far below "hung": a command must fail between the two.
GIVE_UP_S = 3.0


@contextlib.asynccontextmanager
async def serving(handler: object) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


class Proxy:
    """A TCP proxy in front of the real Redis that can stop answering (replies are swallowed)
    or stop reading what the client sends, as a stuck server would."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.answering = True
        self.reading = asyncio.Event()
        self.reading.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.upstream)
        self._writers += [client_w, server_w]
        up = asyncio.create_task(self._pump(client_r, server_w, upstream=True))
        down = asyncio.create_task(self._pump(server_r, client_w, upstream=False))
        self._tasks |= {up, down}

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    *, upstream: bool) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                if upstream:
                    await self.reading.wait()
                data = await reader.read(65536)
                if not data:
                    break
                if upstream or self.answering:
                    writer.write(data)
                    await writer.drain()
        writer.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _via(redis_url: str, port: int, query: str) -> str:
    parts = urlsplit(redis_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    netloc_via = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
    return urlunsplit((parts.scheme, netloc_via, parts.path, query, ""))


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[tuple[Proxy, str]]:
    parts = urlsplit(redis_url)
    the_proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    async with serving(the_proxy.handle) as port:
        yield the_proxy, _via(redis_url, port, f"socket_timeout={TIMEOUT_S}")
        await the_proxy.close()


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = redis_client(redis_url)
    yield redis
    await redis.aclose()


async def test_a_server_that_accepts_but_never_answers_fails_the_command_in_time() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass

    async with serving(swallow) as port:
        redis = redis_client(f"redis://127.0.0.1:{port}/0?socket_timeout={TIMEOUT_S}")
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            async with asyncio.timeout(GIVE_UP_S):
                await redis.get("anything")
        assert time.monotonic() - started < GIVE_UP_S
        await redis.aclose()


@pytest.mark.redis
async def test_a_reply_that_never_comes_fails_the_command_and_the_next_one_reconnects(
    proxy: tuple[Proxy, str],
) -> None:
    the_proxy, url = proxy
    redis = redis_client(url)
    key = f"yueban:test:{uuid.uuid4()}"
    await redis.set(key, b"1", ex=60)

    the_proxy.answering = False
    started = time.monotonic()
    with pytest.raises(RedisTimeoutError):
        async with asyncio.timeout(GIVE_UP_S):
            await redis.get(key)
    assert TIMEOUT_S * 0.9 <= time.monotonic() - started < GIVE_UP_S

    # The connection that waited was closed (a late reply must not answer the next command).
    the_proxy.answering = True
    assert await redis.get(key) == b"1"
    await redis.delete(key)
    await redis.aclose()


@pytest.mark.redis
async def test_a_write_the_server_never_reads_fails_within_the_timeout(
    proxy: tuple[Proxy, str],
) -> None:
    the_proxy, url = proxy
    redis = redis_client(url)
    key = f"yueban:test:{uuid.uuid4()}"
    assert await redis.ping()

    the_proxy.reading.clear()
    # Far more than the kernel's socket buffers take, so the write itself has to wait.
    started = time.monotonic()
    with pytest.raises(RedisTimeoutError, match="writing"):
        async with asyncio.timeout(GIVE_UP_S):
            await redis.set(key, b"x" * (64 << 20), ex=60)
    assert time.monotonic() - started < GIVE_UP_S
    the_proxy.reading.set()
    assert await redis.ping()
    await redis.delete(key)
    await redis.aclose()


@pytest.mark.redis
async def test_a_connection_the_server_dropped_is_replaced(client: Redis, redis_url: str) -> None:
    first_id = await client.client_id()
    killer = Redis.from_url(redis_url)
    await killer.client_kill_filter(_id=first_id)
    await killer.aclose()
    await asyncio.sleep(0.1)  # the connection sits idle in the pool, as between updates

    assert await client.ping()
    assert await client.client_id() != first_id


@pytest.mark.redis
async def test_a_command_on_a_connection_dropped_under_it_fails_and_the_next_succeeds(
    client: Redis, redis_url: str,
) -> None:
    first_id = await client.client_id()
    killer = Redis.from_url(redis_url)
    # The kill lands while this command waits on the connection (BLPOP blocks server-side).
    blocked = asyncio.create_task(client.blpop([f"yueban:test:{uuid.uuid4()}"], timeout=2))
    await asyncio.sleep(0.1)
    await killer.client_kill_filter(_id=first_id)
    await killer.aclose()
    with pytest.raises(RedisConnectionError):
        await blocked

    assert await client.ping()


@pytest.mark.redis
async def test_concurrent_commands_each_get_their_own_reply(client: Redis) -> None:
    prefix = f"yueban:test:{uuid.uuid4()}:"
    await asyncio.gather(*(client.set(f"{prefix}{n}", n, ex=60) for n in range(50)))
    values = await asyncio.gather(*(client.get(f"{prefix}{n}") for n in range(50)))
    assert values == [str(n).encode() for n in range(50)]

    async with client.pipeline(transaction=True) as pipe:
        pipe.get(f"{prefix}7").delete(*(f"{prefix}{n}" for n in range(50)))
        assert await pipe.execute() == [b"7", 50]


@pytest.mark.redis
async def test_a_script_the_server_does_not_know_is_loaded_and_run(client: Redis) -> None:
    source = f"-- {uuid.uuid4()}\nreturn {{KEYS[1], ARGV[1]}}"
    script = LuaScript(client, source)
    assert await client.script_exists(script.sha) == [False]

    assert await script(keys=["k"], args=["a"]) == [b"k", b"a"]
    assert await client.script_exists(script.sha) == [True]
    # An error inside the script is the caller's, and the connection stays usable.
    failing = LuaScript(client, f"-- {uuid.uuid4()}\nreturn redis.call('INCR', KEYS[1], 1)")
    with pytest.raises(ResponseError, match=r"(?i)wrong number of arg"):
        await failing(keys=["k"], args=[])
    assert await client.ping()
