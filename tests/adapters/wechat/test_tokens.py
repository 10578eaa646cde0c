"""Access-token coordination: one refresher at a time, everyone else reads."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from redis.asyncio import Redis

from bots.wechat.tokens import (
    AccessToken,
    AccessTokenManager,
    InMemoryTokenStore,
    RedisTokenStore,
    TokenStore,
    TokenUnavailable,
)

NOW = time.time()  # the Redis store expires keys in real time


class CountingFetcher:
    """Stands in for WeChat's token endpoint, slow enough for callers to pile up."""

    def __init__(self) -> None:
        self.calls = 0
        self._serial = itertools.count(1)

    async def __call__(self) -> AccessToken:
        self.calls += 1
        await asyncio.sleep(0.05)
        return AccessToken(value=f"token-{next(self._serial)}", expires_at=NOW + 7200)


@pytest.fixture
def store(backend: Redis | None, key_prefix: str) -> TokenStore:
    if backend is None:
        return InMemoryTokenStore()
    return RedisTokenStore(backend, "wxapp", prefix=key_prefix)


async def test_fifty_concurrent_readers_cause_one_fetch(store: TokenStore) -> None:
    fetch = CountingFetcher()
    manager = AccessTokenManager(store, fetch, clock=lambda: NOW)

    tokens = await asyncio.gather(*(manager.current() for _ in range(50)))

    assert set(tokens) == {"token-1"}
    assert fetch.calls == 1


async def test_a_stale_token_already_replaced_by_another_worker_is_not_fetched_again(
    store: TokenStore,
) -> None:
    fetch = CountingFetcher()
    worker_a = AccessTokenManager(store, fetch, clock=lambda: NOW)
    worker_b = AccessTokenManager(store, fetch, clock=lambda: NOW)
    first = await worker_a.current()

    second = await worker_a.refresh(stale=first)
    again = await worker_b.refresh(stale=first)  # b saw the same rejection, a bit later

    assert (first, second, again) == ("token-1", "token-2", "token-2")
    assert fetch.calls == 2


async def test_a_token_near_its_end_is_refreshed_ahead_of_time(store: TokenStore) -> None:
    fetch = CountingFetcher()
    now = [NOW]
    manager = AccessTokenManager(store, fetch, clock=lambda: now[0], refresh_margin_seconds=300)
    await manager.current()

    now[0] = NOW + 7200 - 299
    assert await manager.current() == "token-2"


async def test_workers_wait_for_the_lock_holder_instead_of_fetching(store: TokenStore) -> None:
    fetch = CountingFetcher()
    holder = await store.acquire_refresh_lock(ttl_seconds=5)
    assert holder is not None
    waiting = AccessTokenManager(store, fetch, clock=lambda: NOW)

    reader = asyncio.ensure_future(waiting.current())
    await asyncio.sleep(0.1)
    assert not reader.done()  # it polls, it does not fetch
    await store.save(AccessToken("token-from-holder", NOW + 7200))
    await store.release_refresh_lock(holder)

    assert await reader == "token-from-holder"
    assert fetch.calls == 0


async def test_a_crashed_lock_holder_delays_but_does_not_block_forever(store: TokenStore) -> None:
    fetch = CountingFetcher()
    await store.acquire_refresh_lock(ttl_seconds=0.2)  # never released
    manager = AccessTokenManager(store, fetch, clock=lambda: NOW, wait_timeout_seconds=3)

    assert await manager.current() == "token-1"
    assert fetch.calls == 1


async def test_a_refresher_that_never_finishes_gives_a_clear_error(store: TokenStore) -> None:
    await store.acquire_refresh_lock(ttl_seconds=30)
    manager = AccessTokenManager(store, CountingFetcher(), clock=lambda: NOW,
                                 wait_timeout_seconds=0.2)
    with pytest.raises(TokenUnavailable):
        await manager.current()
