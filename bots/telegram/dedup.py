"""Deduplication of updates by `update_id`, so a redelivered update has exactly one effect.

Telegram redelivers a webhook update it thinks failed, and a restarted poller may fetch an
update again; with several workers the copy can reach another process. The first claim of
`<bot id>:<update_id>` wins: in Redis (`SET NX EX`, shared by all workers) when configured,
otherwise in a per-process set with a time to live. The middleware runs first on every
update and drops the copies before anything else sees them.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Telegram keeps retrying a failed webhook for a while and keeps updates for 24 hours; an
# hour covers redeliveries in practice while keeping the set small.
DEFAULT_TTL_SECONDS = 3600


class UpdateDeduplicator(Protocol):
    async def first_time(self, key: str) -> bool:
        """Claim `key`; True only for the first claim within the time to live."""
        ...


class InMemoryDeduplicator:
    """Claims in this process, expiring after `ttl_seconds`, at most `max_keys` remembered."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        *,
        max_keys: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_keys <= 0:
            raise ValueError("ttl_seconds and max_keys must be positive")
        self._ttl = ttl_seconds
        self._max_keys = max_keys
        self._clock = clock
        # Insertion order is expiry order (one TTL for all), so purging looks at the front.
        self._expiry: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, key: str) -> bool:
        now = self._clock()
        while self._expiry:
            oldest, expires_at = next(iter(self._expiry.items()))
            if expires_at > now and len(self._expiry) < self._max_keys:
                break
            del self._expiry[oldest]
        if key in self._expiry:
            return False
        self._expiry[key] = now + self._ttl
        return True

    def __len__(self) -> int:
        return len(self._expiry)


class RedisDeduplicator:
    """Claims shared by every worker: `SET <prefix><key> 1 NX EX ttl`."""

    def __init__(
        self,
        redis: Redis,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        *,
        prefix: str = "yueban:tg:update:",
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._redis = redis
        self._ttl = int(ttl_seconds)
        self._prefix = prefix

    async def first_time(self, key: str) -> bool:
        return bool(await self._redis.set(self._prefix + key, b"1", nx=True, ex=self._ttl))


class DeduplicationMiddleware(BaseMiddleware):
    """Outer update middleware: a copy of an update already seen goes no further."""

    def __init__(self, deduplicator: UpdateDeduplicator) -> None:
        self.deduplicator = deduplicator
        self.duplicates = 0

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update):
            bot = data.get("bot")
            key = f"{bot.id if bot else 0}:{event.update_id}"
            if not await self.deduplicator.first_time(key):
                self.duplicates += 1
                log.info("dropped duplicate update %s", key)
                return None
        return await handler(event, data)
