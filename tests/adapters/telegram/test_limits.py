"""Flood control both ways: outbound sends are paced under Telegram's limits and a 429 is
waited out without losing a message; one person flooding the bot is throttled; duplicate
updates are dropped, in this process or through Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import bootstrap
from bots.i18n import gettext
from bots.telegram.dedup import InMemoryDeduplicator, RedisDeduplicator
from bots.telegram.factory import build_bot
from bots.telegram.ratelimit import (
    InProcessRateLimiter,
    OutboundLimits,
    Pacer,
    RedisRateLimiter,
    Rule,
)
from bots.telegram.standin import BotApiStandIn, RateLimits
from core.shared.clock import FixedClock
from tests.adapters.redis_log import scratch_redis
from tests.adapters.telegram.conftest import SettingsFactory, running_bot
from tests.fakes import ManualClock

# -- the limiter itself -----------------------------------------------------------------------


async def test_the_limiter_allows_a_burst_then_spaces_messages_evenly() -> None:
    clock = ManualClock()
    limiter = InProcessRateLimiter(clock)
    chat = [Rule.per_second("chat:1", 1.0, 3)]
    waits = [await limiter.reserve(chat) for _ in range(5)]
    assert waits == pytest.approx([0, 0, 0, 1.0, 2.0])
    clock.now += 10
    assert await limiter.reserve(chat) == 0


async def test_the_strictest_of_several_rules_decides() -> None:
    clock = ManualClock()
    limiter = InProcessRateLimiter(clock)
    bot = Rule.per_second("bot", 30.0, 1)
    group = Rule.per_second("group:-5", 20 / 60, 1)
    assert await limiter.reserve([bot, group]) == 0
    assert await limiter.reserve([bot, group]) == pytest.approx(3.0)


async def test_try_acquire_takes_nothing_when_refused_and_penalize_holds_a_chat() -> None:
    clock = ManualClock()
    limiter = InProcessRateLimiter(clock)
    rule = [Rule.per_second("user:1", 1.0, 1)]
    assert await limiter.try_acquire(rule) == 0
    assert await limiter.try_acquire(rule) == pytest.approx(1.0)
    assert await limiter.try_acquire(rule) == pytest.approx(1.0)  # the refusal took no slot
    await limiter.penalize(rule, 7)
    assert await limiter.reserve(rule) == pytest.approx(7.0)


async def test_taking_cells_gives_what_is_free_now_and_says_when_the_next_is() -> None:
    clock = ManualClock()
    limiter = InProcessRateLimiter(clock)
    bot = Rule.per_second("bot", 10.0, 3)
    assert await limiter.take(bot, 5) == (3, pytest.approx(0.1))
    assert await limiter.take(bot, 5) == (0, pytest.approx(0.1))
    clock.now += 0.25
    assert (await limiter.take(bot, 5))[0] == 2
    clock.now += 60  # a long pause banks no more than the burst
    assert (await limiter.take(bot, 50))[0] == 3


async def test_the_pacer_hands_out_turns_in_order_and_never_a_backlog_after_a_stall() -> None:
    clock = ManualClock()
    granted: list[tuple[int, float]] = []

    async def sleep(seconds: float) -> None:
        for _ in range(3):  # let the senders whose turn came run at the current time first
            await asyncio.sleep(0)
        clock.now += seconds

    pacer = Pacer(InProcessRateLimiter(clock), Rule.per_second("bot", 10.0, 2), sleep)

    async def send(n: int) -> None:
        await pacer.turn()
        granted.append((n, round(clock.now - 1000, 3)))

    await asyncio.gather(*(send(n) for n in range(5)))
    assert granted == [(0, 0), (1, 0), (2, 0.1), (3, 0.2), (4, 0.3)]

    granted.clear()
    clock.now += 30  # the process was stuck for half a minute with sends owed
    await asyncio.gather(*(send(n) for n in range(4)))
    times = [t for _, t in granted]
    assert times[0] == times[1] and times[2] > times[1] and times[3] > times[2]


async def check_reserve_then_try(limiter: InProcessRateLimiter | RedisRateLimiter) -> None:
    chat = Rule.per_second("chat:9", 1.0, 1)
    other = Rule.per_second("chat:10", 1.0, 1)
    bot = Rule.per_second("bot:9", 1.0, 2)
    assert await limiter.reserve_then_try(chat, bot) == 0.0  # both free: both taken
    # The chat is busy: its turn is reserved and its wait said; the bot's cell is left alone.
    assert await limiter.reserve_then_try(chat, bot) == pytest.approx(1.0, abs=0.05)
    assert await limiter.reserve_then_try(other, bot) == 0.0  # the bot's second cell
    # The bot's cells are spent: another chat's turn is reserved, the bot's cell not taken.
    assert await limiter.reserve_then_try(Rule.per_second("chat:11", 1.0, 1), bot) is None
    assert await limiter.try_acquire([bot]) == pytest.approx(1.0, abs=0.05)  # not 2.0


async def test_a_send_asks_for_its_chat_turn_and_a_bot_turn_in_one_decision() -> None:
    await check_reserve_then_try(InProcessRateLimiter(ManualClock()))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with scratch_redis(redis_url, "yueban-test-limits:") as client:
        yield client


@pytest.mark.redis
async def test_workers_share_one_budget_through_redis(redis_url: str, redis: Redis) -> None:
    other_worker = Redis.from_url(redis_url)
    try:
        first = RedisRateLimiter(redis, prefix="yueban-test-limits:")
        second = RedisRateLimiter(other_worker, prefix="yueban-test-limits:")
        chat = [Rule.per_second("chat:1", 2.0, 2)]
        waits = [await first.reserve(chat), await second.reserve(chat),
                 await first.reserve(chat), await second.reserve(chat)]
        assert waits[:2] == [0, 0]
        assert waits[2] == pytest.approx(0.5, abs=0.05)
        assert waits[3] == pytest.approx(1.0, abs=0.05)
        user = [Rule.per_second("user:1", 1.0, 1)]
        assert await first.try_acquire(user) == 0
        assert await second.try_acquire(user) > 0.9
        bot = Rule.per_second("bot", 10.0, 3)
        assert (await first.take(bot, 2))[0] == 2
        taken, wait = await second.take(bot, 5)
        assert taken == 1 and wait == pytest.approx(0.1, abs=0.05)
    finally:
        await other_worker.aclose()


@pytest.mark.redis
async def test_a_send_asks_for_both_turns_in_one_round_trip_through_redis(redis: Redis) -> None:
    await check_reserve_then_try(RedisRateLimiter(redis, prefix="yueban-test-limits:"))


async def test_update_ids_are_claimed_once_and_forgotten_after_their_time() -> None:
    clock = ManualClock()
    seen = InMemoryDeduplicator(60, clock=clock)
    assert await seen.first_time("1:10") is True
    assert await seen.first_time("1:10") is False
    assert await seen.first_time("2:10") is True  # another bot's update 10
    clock.now += 61
    assert await seen.first_time("1:10") is True


@pytest.mark.redis
async def test_update_ids_are_claimed_once_across_workers_through_redis(redis: Redis) -> None:
    workers = [RedisDeduplicator(redis, 60, prefix="yueban-test-limits:u:") for _ in range(3)]
    claims = await asyncio.gather(*(w.first_time("1:42") for w in workers for _ in range(3)))
    assert claims.count(True) == 1


# -- against the stand-in's flood control ----------------------------------------------------


@pytest.fixture
async def eager_bot(standin: BotApiStandIn) -> AsyncIterator[Bot]:
    """A bot whose own pacing is far looser than the stand-in's limits."""
    limits = OutboundLimits(per_bot_per_second=1000, per_bot_burst=100,
                            per_chat_per_second=1000, per_chat_burst=100)
    client = build_bot(standin.token, api_base=standin.base_url, limits=limits)
    yield client
    await client.session.close()


async def test_a_429_is_waited_out_and_no_message_is_lost(
    standin: BotApiStandIn, eager_bot: Bot
) -> None:
    standin.set_rate_limits(RateLimits(per_private_chat_per_second=5, per_private_chat_burst=2))
    ann = standin.create_user("Ann")
    for n in range(4):
        await eager_bot.send_message(ann.chat_id, f"message {n}")
    assert [m["text"] for m in ann.bot_messages()] == [f"message {n}" for n in range(4)]
    refused = [c for c in standin.calls("sendMessage") if c.error_code == 429]
    assert refused, "the stand-in never said 429: the test proves nothing"


async def test_a_busy_group_does_not_hold_up_private_chats(standin: BotApiStandIn) -> None:
    ann, bob = standin.create_user("Ann"), standin.create_user("Bob")
    group = standin.create_group("Operators", [ann, bob], admins=[ann])
    bot = build_bot(standin.token, api_base=standin.base_url,
                    limits=OutboundLimits(per_group_burst=1))
    loop = asyncio.get_running_loop()
    try:
        await bot.send_message(group.chat["id"], "card 1")
        second_card = asyncio.create_task(bot.send_message(group.chat["id"], "card 2"))
        await asyncio.sleep(0.05)  # card 2 now waits its turn: three seconds in a group
        started = loop.time()
        await bot.send_message(ann.chat_id, "your order was accepted")
        assert loop.time() - started < 0.5
        assert not second_card.done()
        second_card.cancel()
    finally:
        await bot.session.close()


async def test_sends_are_paced_under_the_limit_so_no_429_is_needed(standin: BotApiStandIn) -> None:
    standin.set_rate_limits(RateLimits(per_bot_per_second=100, per_bot_burst=5))
    people = [standin.create_user(f"P{n}") for n in range(30)]
    bot = build_bot(standin.token, api_base=standin.base_url,
                    limits=OutboundLimits(per_bot_per_second=100, per_bot_burst=1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.gather(*(bot.send_message(p.chat_id, "hello") for p in people))
    finally:
        await bot.session.close()
    assert loop.time() - started >= 0.25  # 29 intervals of 10 ms
    assert all(c.ok for c in standin.calls("sendMessage"))
    assert all(len(p.bot_messages()) == 1 for p in people)


async def test_one_person_flooding_the_bot_is_throttled(
    bot_settings: SettingsFactory, engine: AsyncEngine, clock: FixedClock, standin: BotApiStandIn
) -> None:
    settings = bot_settings(telegram_user_updates_per_second=0.2, telegram_user_updates_burst=2)
    runtime = bootstrap(settings, clock=clock, engine=engine)
    async with running_bot(settings, runtime, standin) as tg:
        ann = standin.create_user("Ann", language_code="en")
        bob = standin.create_user("Bob", language_code="en")
        for _ in range(5):
            await ann.send_text("/help")
        await bob.send_text("/help")
        await tg.settle()
    help_text, slow_down = gettext("tg.help", "en"), gettext("tg.throttled", "en")
    assert [m["text"] for m in ann.bot_messages()] == [help_text, help_text, slow_down]
    assert [m["text"] for m in bob.bot_messages()] == [help_text]


@pytest.mark.redis
async def test_with_redis_duplicates_are_dropped_and_the_conversation_works(
    bot_settings: SettingsFactory,
    engine: AsyncEngine,
    clock: FixedClock,
    standin: BotApiStandIn,
    redis: Redis,
) -> None:
    settings = bot_settings()
    runtime = bootstrap(settings, clock=clock, engine=engine)
    async with running_bot(settings, runtime, standin, redis=redis) as tg:
        standin.duplicate_updates = True
        mei = standin.create_user("Mei", language_code="zh-hans")
        await mei.start()
        await mei.send_text("/language en")
        await tg.settle()
    assert [m["text"] for m in mei.bot_messages()] == [
        gettext("tg.start.welcome", "zh", name="Mei"),
        gettext("tg.language.changed", "en"),
    ]
