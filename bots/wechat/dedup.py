"""Deduplication of WeChat pushes, so a retried message has exactly one effect.

WeChat re-posts a message it thinks went unanswered (three tries, 5 s apart) and may reach
a different worker each time. The webhook claims a key per message (`MsgId`, or
`FromUserName + CreateTime + Event` for events) and only the first claim proceeds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

# WeChat gives up after about 15 s of retries; five minutes leaves ample margin for
# clock skew and slow deliveries while keeping the key space small.
DEFAULT_DEDUP_TTL_SECONDS = 300


class Deduplicator(Protocol):
    async def first_time(self, key: str) -> bool:
        """Claim `key`; True only for the first claim within the TTL."""
        ...


class InMemoryDeduplicator:
    """Per-process claims with a TTL; enough for one worker."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_DEDUP_TTL_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._ttl = ttl_seconds
        self._clock = clock
        # Insertion order equals expiry order because the TTL is constant, so purging
        # only ever looks at the front.
        self._expiry: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, key: str) -> bool:
        now = self._clock()
        self._purge(now)
        if key in self._expiry:
            return False
        self._expiry[key] = now + self._ttl
        return True

    def _purge(self, now: float) -> None:
        while self._expiry:
            oldest_key, expires_at = next(iter(self._expiry.items()))
            if expires_at > now:
                return
            del self._expiry[oldest_key]

    def __len__(self) -> int:
        return len(self._expiry)


class RedisDeduplicator:
    """Claims shared by every worker through Redis `SET key 1 NX EX ttl`."""

    def __init__(
        self,
        redis: Redis,
        ttl_seconds: int = DEFAULT_DEDUP_TTL_SECONDS,
        *,
        prefix: str = "yueban:wechat:dedup:",
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._redis = redis
        self._ttl = int(ttl_seconds)
        self._prefix = prefix

    async def first_time(self, key: str) -> bool:
        claimed = await self._redis.set(self._prefix + key, b"1", nx=True, ex=self._ttl)
        return bool(claimed)
