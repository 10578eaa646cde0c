"""Lua scripts run by their SHA, loaded on the server the first time it does not know one.

redis-py's `Script` does the same, but every call imports its pipeline class and checks
whether the client is one; that class's metaclass is `typing`'s protocol metaclass, whose
`isinstance` costs more CPU than the rest of the call on Python 3.11. The scripts here run
once per update and once per send, on the plain client only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, redis: Redis, source: str) -> None:
        self._redis = redis
        self._source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # A server that restarted, or was flushed, forgets its scripts.
            self.sha = await self._redis.script_load(self._source)
            return await self._redis.evalsha(self.sha, len(keys), *keys, *args)
