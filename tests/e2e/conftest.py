"""The whole product in one process, as in production: the bot on the local Bot API stand-in
(webhook with its secret), state in Redis, the database under test (SQLite or PostgreSQL),
the notice relay, and the sweeper run by hand when the story lets time pass.

People are simulated Telegram users; nothing is mocked. Only what an operator does at the
shell before launch (seeding the catalog, making someone an operator, creating the
operators' group) happens outside the chat.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.scheduler import Sweeper, build_sweeper
from bots.telegram.standin import BotApiStandIn, SimGroup, SimUser
from core.catalog.commands import SeedCatalog
from core.shared.clock import FixedClock
from tests.adapters.telegram.conftest import (  # noqa: F401  (fixtures)
    RunningBot,
    SettingsFactory,
    bot_settings,
    standin,
)
from tests.adapters.telegram_provider.conftest import Person, register, serving

QUICK_HANDS = {"telegram_user_updates_per_second": 1000.0, "telegram_user_updates_burst": 1000}


@dataclass
class World:
    bot: RunningBot
    runtime: Runtime
    standin: BotApiStandIn
    clock: FixedClock
    sweeper: Sweeper
    operator: Person
    group: SimGroup

    async def sweep(self) -> None:
        """One tick of the sweeper (order timers, settlement, refunds), as the scheduler runs it."""
        report = await self.sweeper.tick()
        assert report.leader and not report.failures, report
        await self.bot.settle()

    async def settle(self) -> None:
        await self.bot.settle()


@pytest.fixture
async def world(
    bot_settings: SettingsFactory, engine: AsyncEngine, clock: FixedClock,  # noqa: F811
    standin: BotApiStandIn, redis_url: str,  # noqa: F811
) -> AsyncIterator[World]:
    olga_sim = standin.create_user("Olga", language_code="en")
    group = standin.create_group("Yueban operators", [olga_sim], admins=[olga_sim])
    settings = bot_settings(
        redis_url=redis_url, telegram_admin_chat_id=group.id, default_locale="en",
        default_timezone="Asia/Shanghai", **QUICK_HANDS,
    )
    runtime = bootstrap(settings, clock=clock, engine=engine)
    await runtime.bus.handle(SeedCatalog())
    operator = await register(runtime, olga_sim, "operator")
    redis = Redis.from_url(redis_url)
    namespace = f"yueban-e2e-{uuid.uuid4().hex[:8]}"
    sweeper = build_sweeper(runtime)
    try:
        async with serving(settings, runtime, standin, redis=redis, namespace=namespace) as bot:
            yield World(bot, runtime, standin, clock, sweeper, operator, group)
    finally:
        await sweeper.stop()
        keys = [key async for key in redis.scan_iter(f"{namespace}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


def labels(message: dict[str, Any]) -> list[str]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["text"] for row in keyboard for button in row]


async def sees(
    person: SimUser | SimGroup, *parts: str, chat: SimGroup | None = None, within: float = 5.0,
    where: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """The newest message from the bot (its current version) that contains every part."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        messages = person.bot_messages() if isinstance(person, SimGroup) else person.bot_messages(chat)
        for message in reversed(messages):
            if all(p in text_of(message) for p in parts) and (where is None or where(message)):
                return message
        if loop.time() > deadline:
            shown = "\n---\n".join(text_of(m) for m in messages[-6:])
            raise AssertionError(f"{person!r} does not see {parts!r}; the latest:\n{shown}")
        await asyncio.sleep(0.01)


async def press(person: SimUser, message: dict[str, Any], label: str, *,
                chat: SimGroup | None = None) -> dict[str, Any]:
    """Tap the button whose label contains `label`; returns the callback's answer."""
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    matching = [b for row in keyboard for b in row if label in b["text"]]
    assert matching, f"no button {label!r} among {labels(message)}"
    tap = await person.tap(message, callback_data=matching[0]["callback_data"], chat=chat)
    return await tap.answer()
