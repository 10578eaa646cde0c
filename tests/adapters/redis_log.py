"""Redis for tests: which commands a client sends (to count round trips), and a client
whose keys are cleared afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis


class RedisCommandLog:
    """Wraps `client.execute_command` and records each command's name (scripts included)."""

    def __init__(self, client: Redis) -> None:
        self.commands: list[str] = []
        execute = client.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            self.commands.append(str(args[0]))
            return await execute(*args, **options)

        client.execute_command = counted  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def scratch_redis(url: str, prefix: str) -> AsyncIterator[Redis]:
    """A client whose test writes keys under `prefix`; those keys are deleted afterwards."""
    client = Redis.from_url(url)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
