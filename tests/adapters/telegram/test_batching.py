"""Requests made in one pass of the event loop share one round trip, and each caller still
gets its own answer, as if it had asked alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from redis.asyncio import Redis

from bots.telegram.batching import Batcher
from bots.telegram.dedup import RedisDeduplicator
from bots.telegram.ratelimit import RedisRateLimiter, Rule
from tests.adapters.redis_log import RedisCommandLog, scratch_redis

PREFIX = "yueban-test-batching:"


class Server:
    """A `send` that records each batch and answers with the item doubled."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail
        self.release = asyncio.Event()
        self.release.set()

    async def send(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await self.release.wait()
        if self.fail:
            raise ConnectionError("server gone")
        return [item * 2 for item in items]


async def test_requests_made_together_go_in_one_batch_in_order() -> None:
    server = Server()
    batcher = Batcher(server.send)
    answers = await asyncio.gather(*(batcher.submit(n) for n in range(5)))
    assert answers == [0, 2, 4, 6, 8]
    assert server.batches == [[0, 1, 2, 3, 4]]
    # One at a time, each goes alone.
    assert await batcher.submit(7) == 14
    assert await batcher.submit(8) == 16
    assert server.batches[1:] == [[7], [8]]


async def test_a_batch_is_split_at_its_largest_size() -> None:
    server = Server()
    batcher = Batcher(server.send, max_batch=2)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert server.batches == [[0, 1], [2, 3], [4]]


async def test_a_failed_round_trip_reaches_every_caller_of_its_batch() -> None:
    batcher = Batcher(Server(fail=True).send)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3


async def test_a_caller_that_gives_up_does_not_cancel_the_others() -> None:
    server = Server()
    server.release.clear()
    batcher = Batcher(server.send)
    first = asyncio.ensure_future(batcher.submit(1))
    second = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0.01)  # the batch is on its way
    first.cancel()
    server.release.set()
    assert await second == 4
    assert first.cancelled()


def test_a_loop_that_ended_before_its_batch_went_out_does_not_hold_up_the_next() -> None:
    server = Server()
    batcher = Batcher(server.send)
    first = asyncio.new_event_loop()
    first.set_exception_handler(lambda *_: None)  # its abandoned request is expected
    asking = first.create_task(batcher.submit(1))
    first.call_soon(first.stop)  # the loop ends in the pass that asked, before the batch goes
    first.run_forever()
    asking.cancel()
    first.close()
    second = asyncio.new_event_loop()
    try:
        answer = second.run_until_complete(asyncio.wait_for(batcher.submit(2), 1.0))
    finally:
        second.close()
    assert answer == 4
    assert server.batches == [[2]]


def test_a_batch_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        Batcher(Server().send, max_batch=0)


# -- through Redis ------------------------------------------------------------------------------


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with scratch_redis(redis_url, PREFIX) as client:
        yield client


@pytest.mark.redis
async def test_updates_arriving_together_are_claimed_in_one_round_trip(redis: Redis) -> None:
    counted = RedisCommandLog(redis)
    claims = RedisDeduplicator(redis, 60, prefix=PREFIX + "u:", throttle_prefix=PREFIX + "t:")
    throttle = Rule.per_second("user:1", 1.0, 2)  # two updates at once, then one a second
    fsm = (PREFIX + "state", PREFIX + "data")
    await redis.set(fsm[0], b"Booking:units")
    answers = await asyncio.gather(
        claims.claim("1:10", throttle, fsm),
        claims.claim("1:11", throttle),
        claims.claim("1:10", throttle),  # Telegram's copy of update 10
        claims.claim("1:12", throttle),
        claims.claim("1:13", Rule.per_second("user:2", 1.0, 2)),  # someone else
    )
    assert counted.commands.count("EVALSHA") == 1
    first, second, copy, third, other = answers
    assert first == (0.0, b"Booking:units", None)  # the state read on the way
    assert second == (0.0, None, None)
    assert copy == (None, None, None)  # dropped, and took no cell
    assert third[0] == pytest.approx(1.0, abs=0.05)  # over the burst: told to wait
    assert other == (0.0, None, None)
    # Later the copy is still a copy, and the next update of user 1 still waits.
    assert await claims.claim("1:10", throttle) == (None, None, None)
    wait, _, _ = await claims.claim("1:14", throttle)
    assert wait is not None and wait > 0.5


@pytest.mark.redis
async def test_sends_started_together_ask_for_their_turns_in_one_round_trip(
    redis: Redis,
) -> None:
    counted = RedisCommandLog(redis)
    limiter = RedisRateLimiter(redis, prefix=PREFIX)
    bot = Rule.per_second("bot", 1.0, 2)  # two sends at once for the whole bot
    chat = [Rule.per_second(f"chat:{n}", 1.0, 1) for n in range(4)]
    answers = await asyncio.gather(
        limiter.reserve_then_try(chat[0], bot),
        limiter.reserve_then_try(chat[0], bot),  # the same chat again: its turn is later
        limiter.reserve_then_try(chat[1], bot),
        limiter.reserve_then_try(chat[2], bot),  # the bot's cells are spent
        limiter.reserve_then_try(chat[3], bot),
    )
    assert counted.commands.count("EVALSHA") == 1
    assert answers[0] == 0.0
    assert answers[1] == pytest.approx(1.0, abs=0.05)
    assert answers[2] == 0.0
    assert answers[3] is None and answers[4] is None
    # Exactly what asking one after another would have left: the bot's next cell in a second.
    assert await limiter.try_acquire([bot]) == pytest.approx(1.0, abs=0.05)
