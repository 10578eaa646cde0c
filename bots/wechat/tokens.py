"""The WeChat access token: stored once, refreshed by one holder of a lock, read by all.

WeChat issues one access token per account at a time and fetching a new one can
invalidate the old one after a short grace, so uncoordinated workers refreshing on every
40001/42001 would knock each other's tokens out in a storm. Here a refresh is
single-flight in the process (one task, every caller awaits it) and across processes
(a lock in the store: `SET NX PX` in Redis); everyone else only reads the stored token.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import WatchError


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # epoch seconds

    def usable(self, now: float, margin: float) -> bool:
        return self.expires_at - now > margin


class TokenUnavailable(RuntimeError):
    """No usable token could be obtained in time (the refresher failed or never finished)."""


class TokenStore(Protocol):
    async def load(self) -> AccessToken | None: ...

    async def save(self, token: AccessToken) -> None: ...

    async def acquire_refresh_lock(self, ttl_seconds: float) -> str | None:
        """Try once to become the refresher; the lock id on success, None if held."""
        ...

    async def release_refresh_lock(self, lock_id: str) -> None: ...


class InMemoryTokenStore:
    """Token and lock for a single process."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._token: AccessToken | None = None
        self._lock_id: str | None = None
        self._lock_expires_at = 0.0
        self._clock = clock

    async def load(self) -> AccessToken | None:
        return self._token

    async def save(self, token: AccessToken) -> None:
        self._token = token

    async def acquire_refresh_lock(self, ttl_seconds: float) -> str | None:
        now = self._clock()
        if self._lock_id is not None and now < self._lock_expires_at:
            return None
        self._lock_id = uuid.uuid4().hex
        self._lock_expires_at = now + ttl_seconds
        return self._lock_id

    async def release_refresh_lock(self, lock_id: str) -> None:
        if self._lock_id == lock_id:
            self._lock_id = None

    def invalidate(self) -> None:
        """Forget the token (as if it were never fetched); for operators and tests."""
        self._token = None


class RedisTokenStore:
    """Token and refresh lock shared by every worker of one official account."""

    def __init__(
        self,
        redis: Redis,
        app_id: str,
        *,
        prefix: str = "yueban:wechat",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._key = f"{prefix}:{app_id}:access_token"
        self._lock_key = f"{self._key}:refresh_lock"

    async def load(self) -> AccessToken | None:
        raw = await self._redis.get(self._key)
        if not raw:
            return None
        data = json.loads(raw)
        return AccessToken(value=data["value"], expires_at=float(data["expires_at"]))

    async def save(self, token: AccessToken) -> None:
        # Redis drops the token when it expires, so a reader never sees a dead one.
        ttl_ms = max(1, int((token.expires_at - self._clock()) * 1000))
        payload = json.dumps({"value": token.value, "expires_at": token.expires_at})
        await self._redis.set(self._key, payload, px=ttl_ms)

    async def acquire_refresh_lock(self, ttl_seconds: float) -> str | None:
        lock_id = uuid.uuid4().hex
        taken = await self._redis.set(
            self._lock_key, lock_id, nx=True, px=max(1, int(ttl_seconds * 1000))
        )
        return lock_id if taken else None

    async def release_refresh_lock(self, lock_id: str) -> None:
        # Delete only our own lock: if it expired and another worker took it, leave it.
        async with self._redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self._lock_key)
                held = await pipe.get(self._lock_key)
                if held is None or _text(held) != lock_id:
                    await pipe.unwatch()
                    return
                pipe.multi()
                pipe.delete(self._lock_key)
                await pipe.execute()
            except WatchError:
                return  # someone else changed the lock meanwhile: it is not ours any more


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


TokenFetcher = Callable[[], Awaitable[AccessToken]]


class AccessTokenManager:
    """Hands out the current token and coordinates refreshes.

    `current()` reads the store and only refreshes when the token is missing or near its
    end. `refresh(stale)` is called after WeChat rejected `stale`: if the stored token
    is already a different, usable one, that one is returned without fetching.
    """

    def __init__(
        self,
        store: TokenStore,
        fetch: TokenFetcher,
        *,
        clock: Callable[[], float] = time.time,
        refresh_margin_seconds: float = 300.0,
        lock_ttl_seconds: float = 15.0,
        wait_timeout_seconds: float = 15.0,
        poll_interval_seconds: float = 0.05,
    ) -> None:
        self._store = store
        self._fetch = fetch
        self._clock = clock
        self._margin = refresh_margin_seconds
        self._lock_ttl = lock_ttl_seconds
        self._wait_timeout = wait_timeout_seconds
        self._poll = poll_interval_seconds
        self._inflight: asyncio.Future[str] | None = None
        self.fetches = 0  # tokens this process fetched from WeChat

    async def current(self) -> str:
        token = await self._store.load()
        if token is not None and token.usable(self._clock(), self._margin):
            return token.value
        return await self.refresh(stale=token.value if token else None)

    async def refresh(self, stale: str | None) -> str:
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._refresh(stale))
        # shield: one caller being cancelled must not cancel the refresh everyone awaits.
        return await asyncio.shield(self._inflight)

    def _replaces(self, token: AccessToken | None, stale: str | None) -> bool:
        return (
            token is not None
            and token.value != stale
            and token.usable(self._clock(), self._margin)
        )

    async def _refresh(self, stale: str | None) -> str:
        deadline = time.monotonic() + self._wait_timeout
        while True:
            token = await self._store.load()
            if token is not None and self._replaces(token, stale):
                return token.value
            lock_id = await self._store.acquire_refresh_lock(self._lock_ttl)
            if lock_id is not None:
                try:
                    token = await self._store.load()  # another worker may have just finished
                    if token is not None and self._replaces(token, stale):
                        return token.value
                    fresh = await self._fetch()
                    self.fetches += 1
                    await self._store.save(fresh)
                    return fresh.value
                finally:
                    await self._store.release_refresh_lock(lock_id)
            if time.monotonic() >= deadline:
                raise TokenUnavailable("timed out waiting for another worker to refresh the token")
            await asyncio.sleep(self._poll)
