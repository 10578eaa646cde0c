"""Lua scripts by SHA: a server that does not know the script gets it loaded, once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bots.telegram.lua import LuaScript


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.mark.redis
async def test_a_script_the_server_does_not_know_is_loaded_and_run(redis: Redis) -> None:
    # A source no server has seen (the comment makes it unique), as after a restart.
    source = f"-- {uuid.uuid4()}\nreturn {{KEYS[1], ARGV[1], #KEYS, #ARGV}}"
    script = LuaScript(redis, source)
    assert (await redis.script_exists(script.sha)) == [False]

    assert await script(keys=["k"], args=["a", 2]) == [b"k", b"a", 1, 2]
    assert (await redis.script_exists(script.sha)) == [True]
    assert await script(keys=["other"], args=["b"]) == [b"other", b"b", 1, 1]
