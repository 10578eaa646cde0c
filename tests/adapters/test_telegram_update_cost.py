"""What an update costs the bot: the deduplication claim and the sender's throttle cell are
one Redis script; a conversation's FSM state and data are read together, once per update;
the categories, a provider being booked and the actor's time zone are not read again on
every tap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Chat, Message, Update, User
from redis.asyncio import Redis

from bots.telegram.dedup import DeduplicationMiddleware, RedisDeduplicator
from bots.telegram.factory import UpdateScopedStorage, fsm_read_scope
from bots.telegram.handlers.customer import reads
from bots.telegram.ratelimit import RedisRateLimiter, Rule
from bots.telegram.throttling import ThrottleLimits, ThrottlingMiddleware
from tests.adapters.redis_log import RedisCommandLog, scratch_redis

PREFIX = "yueban-test-cost:"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with scratch_redis(redis_url, PREFIX) as client:
        yield client


class FakeBot:
    id = 7


def update(update_id: int, user_id: int = 42) -> tuple[Update, dict[str, Any]]:
    user = User(id=user_id, is_bot=False, first_name="Ann", language_code="en")
    message = Message(message_id=update_id, date=0, chat=Chat(id=user_id, type="private"),
                      from_user=user, text="hi")
    return Update(update_id=update_id, message=message), {"bot": FakeBot(), "event_from_user": user}


@pytest.mark.redis
async def test_claim_and_throttle_take_one_round_trip_and_decide_as_before(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, prefix=f"{PREFIX}rate:")
    throttling = ThrottlingMiddleware(limiter, ThrottleLimits(updates_per_second=0.5, burst=2))
    dedup = DeduplicationMiddleware(
        RedisDeduplicator(redis, prefix=f"{PREFIX}update:", throttle_prefix=f"{PREFIX}rate:"),
        throttling=throttling,
    )
    handled: list[int] = []

    async def handler(event: Any, data: dict[str, Any]) -> None:
        handled.append(event.update_id)

    async def chain(event: Any, data: dict[str, Any]) -> None:
        await throttling(handler, event, data)

    event, data = update(100, user_id=99)
    await dedup(chain, event, data)  # Redis learns the script once
    handled.clear()
    counted = RedisCommandLog(redis)
    for update_id in (1, 1, 2):
        event, data = update(update_id)
        await dedup(chain, event, data)
    assert handled == [1, 2]
    assert dedup.duplicates == 1
    assert counted.commands == ["EVALSHA"] * 3  # one script per update, copies included

    # The burst of two is spent: the third update is throttled (it would warn, but there
    # is no one to answer here), and its claim still holds.
    throttling.limits = ThrottleLimits(updates_per_second=0.5, burst=2, warn_every_seconds=1e9)
    await limiter.try_acquire([Rule(f"{FakeBot.id}:user:42:warned", 1e9, 1)])
    event, data = update(3)
    await dedup(chain, event, data)
    assert handled == [1, 2] and throttling.dropped == 1
    event, data = update(3)
    await dedup(chain, event, data)
    assert dedup.duplicates == 2


@pytest.mark.redis
async def test_a_cell_the_claim_took_is_the_one_the_limiter_sees(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, prefix=f"{PREFIX}rate:")
    claims = RedisDeduplicator(redis, prefix=f"{PREFIX}update:", throttle_prefix=f"{PREFIX}rate:")
    rule = Rule.per_second("7:user:1", 1.0, 1)
    assert await claims.first_time_then_try("7:1", rule) == 0.0
    assert await limiter.try_acquire([rule]) > 0  # the only cell is taken
    assert await claims.first_time_then_try("7:1", rule) is None


class Form(StatesGroup):
    step = State()


@pytest.mark.redis
async def test_fsm_state_and_data_are_read_together_once_per_update(redis: Redis) -> None:
    inner = RedisStorage(redis, key_builder=DefaultKeyBuilder(prefix=f"{PREFIX}fsm"))
    storage = UpdateScopedStorage(inner)
    key = StorageKey(bot_id=7, chat_id=1, user_id=1)
    await storage.set_state(key, Form.step)
    await storage.set_data(key, {"draft": {"units": 2}})

    async def one_update() -> list[str]:
        counted = RedisCommandLog(redis)
        assert await storage.get_state(key) == Form.step.state
        data = await storage.get_data(key)
        data["draft"]["units"] = 3  # a handler's copy; nothing stored changes
        assert (await storage.get_data(key))["draft"] == {"units": 2}
        await storage.update_data(key, {"seen": True})
        assert await storage.get_data(key) == {"draft": {"units": 2}, "seen": True}
        await storage.set_state(key, None)
        assert await storage.get_state(key) is None
        del redis.execute_command
        return counted.commands

    with fsm_read_scope():
        commands = await asyncio.create_task(one_update())
    assert commands == ["MGET", "SET", "DEL"]
    # Outside an update the storage reads Redis each time, and sees what was written.
    assert await storage.get_state(key) is None
    assert await storage.get_data(key) == {"draft": {"units": 2}, "seen": True}


class FakeBus:
    """Answers the catalog's queries, counting them."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def handle(self, query: Any) -> Any:
        self.asked.append(type(query).__name__)
        return []


async def test_categories_are_read_once_while_fresh() -> None:
    bus = FakeBus()
    await reads.categories(bus)  # type: ignore[arg-type]
    await reads.categories(bus)  # type: ignore[arg-type]
    assert bus.asked == ["ListCategories"]
    other = FakeBus()
    await reads.categories(other)  # type: ignore[arg-type]
    assert other.asked == ["ListCategories"]


async def test_a_provider_being_booked_is_read_once_but_a_card_reads_afresh() -> None:
    bus = FakeBus()
    await reads.provider(bus, 5)  # type: ignore[arg-type]  # the card
    await reads.provider(bus, 5, max_age=reads.BOOKING_READ_SECONDS)  # type: ignore[arg-type]
    await reads.provider(bus, 6, max_age=reads.BOOKING_READ_SECONDS)  # type: ignore[arg-type]
    await reads.provider(bus, 5)  # type: ignore[arg-type]
    assert bus.asked == ["GetProvider", "GetProvider", "GetProvider"]


@pytest.mark.redis
async def test_a_task_an_update_started_reads_the_fsm_afresh(redis: Redis) -> None:
    inner = RedisStorage(redis, key_builder=DefaultKeyBuilder(prefix=f"{PREFIX}fsm"))
    storage = UpdateScopedStorage(inner)
    key = StorageKey(bot_id=7, chat_id=2, user_id=2)

    async def later() -> str | None:  # e.g. an album collector outliving the update
        await inner.set_state(key, "elsewhere")  # another worker moves on meanwhile
        return await storage.get_state(key)

    async def one_update() -> tuple[str | None, str | None]:
        first = await storage.get_state(key)
        return first, await asyncio.create_task(later())

    with fsm_read_scope():
        assert await asyncio.create_task(one_update()) == (None, "elsewhere")


@pytest.mark.redis
async def test_claim_throttle_and_fsm_read_are_one_round_trip_before_the_handler(
        redis: Redis) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.fsm.context import FSMContext

    from bots.telegram.factory import FsmPrefetcher, register_before_fsm

    storage = UpdateScopedStorage(RedisStorage(
        redis, key_builder=DefaultKeyBuilder(prefix=f"{PREFIX}fsm", with_bot_id=True)))
    dispatcher = Dispatcher(storage=storage)
    throttling = ThrottlingMiddleware(RedisRateLimiter(redis, prefix=f"{PREFIX}rate:"))
    dedup = DeduplicationMiddleware(
        RedisDeduplicator(redis, prefix=f"{PREFIX}update:", throttle_prefix=f"{PREFIX}rate:"),
        throttling=throttling, fsm=FsmPrefetcher(dispatcher.fsm, storage))
    register_before_fsm(dispatcher, dedup, throttling)
    seen: list[tuple[str | None, dict[str, Any]]] = []

    @dispatcher.message()
    async def handler(message: Message, raw_state: str | None, state: FSMContext) -> None:
        seen.append((raw_state, await state.get_data()))

    bot = Bot("7:TEST")
    key = StorageKey(bot_id=7, chat_id=42, user_id=42)
    await storage.set_state(key, Form.step)
    await storage.set_data(key, {"draft": 1})
    warm, _ = update(500)
    with fsm_read_scope():
        await asyncio.create_task(dispatcher.feed_update(bot, warm))  # Redis learns the script
    seen.clear()

    counted = RedisCommandLog(redis)
    first, _ = update(501)
    for _ in range(2):  # the update, then Telegram's copy of it
        with fsm_read_scope():
            await asyncio.create_task(dispatcher.feed_update(bot, first))
    assert seen == [(Form.step.state, {"draft": 1})]
    assert dedup.duplicates == 1
    assert counted.commands == ["EVALSHA", "EVALSHA"]  # no MGET: the claim read the state
    await bot.session.close()
