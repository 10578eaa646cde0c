"""Which commands a Redis client sends, for tests that count round trips."""

from __future__ import annotations

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
