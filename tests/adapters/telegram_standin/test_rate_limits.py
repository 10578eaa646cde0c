"""Flood limits like Telegram's: 429 with retry_after, per bot, per private chat, per group."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import BufferedInputFile, InputMediaPhoto

from bots.telegram.standin import BotApiStandIn, RateLimits
from bots.telegram.standin.media import make_png
from tests.fakes import ManualClock

from .conftest import make_bot


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def limited(clock: ManualClock) -> AsyncIterator[tuple[BotApiStandIn, Bot]]:
    async with BotApiStandIn.running(rate_limits=RateLimits.telegram(),
                                     monotonic=clock) as standin:
        bot = make_bot(standin)
        try:
            yield standin, bot
        finally:
            await bot.session.close()


async def test_a_private_chat_allows_a_short_burst_then_429(
    limited: tuple[BotApiStandIn, Bot], clock: ManualClock
) -> None:
    standin, bot = limited
    ann = standin.create_user("Ann")
    for n in range(5):
        await bot.send_message(ann.id, f"part {n}")

    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(ann.id, "one too many")

    assert refused.value.retry_after == 1
    assert len(ann.bot_messages()) == 5
    clock.now += refused.value.retry_after
    await bot.send_message(ann.id, "after waiting")
    assert len(ann.bot_messages()) == 6


async def test_the_429_body_is_telegrams(limited: tuple[BotApiStandIn, Bot]) -> None:
    standin, _ = limited
    ann = standin.create_user("Ann")
    url = f"{standin.base_url}/bot{standin.token}/sendMessage"
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            async with http.post(url, json={"chat_id": ann.id, "text": "x"}) as response:
                assert response.status == 200
        async with http.post(url, json={"chat_id": ann.id, "text": "x"}) as response:
            assert response.status == 429
            assert await response.json() == {
                "ok": False, "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1}}


async def test_groups_get_twenty_messages_a_minute(
    limited: tuple[BotApiStandIn, Bot], clock: ManualClock
) -> None:
    standin, bot = limited
    olga = standin.create_user("Olga")
    group = standin.create_group("Operators", [olga])
    for n in range(20):
        await bot.send_message(group.id, f"alert {n}")

    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(group.id, "alert 21")
    assert refused.value.retry_after == 3  # one more message every 3 seconds
    clock.now += 3
    await bot.send_message(group.id, "alert 21")
    assert len(group.bot_messages()) == 21


async def test_the_bot_as_a_whole_gets_about_thirty_a_second(
    limited: tuple[BotApiStandIn, Bot],
) -> None:
    standin, bot = limited
    users = [standin.create_user(f"User {n}") for n in range(31)]
    for user in users[:30]:
        await bot.send_message(user.id, "broadcast")

    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(users[30].id, "broadcast")


async def test_an_album_counts_as_one_message_per_item(
    limited: tuple[BotApiStandIn, Bot],
) -> None:
    standin, bot = limited
    ann = standin.create_user("Ann")
    album = [InputMediaPhoto(media=BufferedInputFile(make_png(10, 10), f"{i}.png"))
             for i in range(4)]
    await bot.send_media_group(ann.id, album)

    await bot.send_message(ann.id, "one slot left")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(ann.id, "none left")


async def test_limits_can_be_raised_or_switched_off(
    limited: tuple[BotApiStandIn, Bot],
) -> None:
    standin, bot = limited
    users = [standin.create_user(f"User {n}") for n in range(40)]

    standin.set_rate_limits(RateLimits(per_bot_per_second=300, per_bot_burst=300))
    for user in users:
        await bot.send_message(user.id, "broadcast at 300/s")

    standin.set_rate_limits(RateLimits.off())
    for n in range(20):
        await bot.send_message(users[0].id, f"unlimited {n}")
    assert len(users[0].bot_messages()) == 21
