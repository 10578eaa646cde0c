"""The relay over real HTTP: Yueban's bot against the Telegram stand-in, people who talk to
each other about an accepted order, booking's peers (catalog, payments) as fakes.

`chat` gives a running bot and helpers: `person(...)` is a stand-in user registered with
Yueban, `accepted_order(customer, provider)` opens their conversation through booking's
commands, `received(person, ...)` waits for what the bot put in a person's chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from bots.telegram.ratelimit import OutboundRateLimitMiddleware
from bots.telegram.standin import BotApiStandIn, SimGroup, SimUser
from core.booking import commands as b
from core.booking.model import Order
from core.booking.ports import OfferCard
from core.identity.commands import GrantRole, RegisterFromChannel
from core.shared.clock import FixedClock
from core.shared.money import Money
from tests.adapters.telegram.conftest import (  # noqa: F401  (fixtures)
    RunningBot,
    SettingsFactory,
    bot_settings,
    running_bot,
    standin,
)
from tests.unit.booking.fakes import FakeDirectory, FakePayments

FAST_HANDS = {"telegram_user_updates_per_second": 1000.0, "telegram_user_updates_burst": 1000}
ONLINE, ON_SITE = 1, 2


@dataclass
class ChatWorld:
    bot: RunningBot
    runtime: Runtime
    standin: BotApiStandIn
    clock: FixedClock
    directory: FakeDirectory
    operators: SimGroup
    watcher: SimUser  # a member of the operators' group, reading it
    ids: dict[int, int] = field(default_factory=dict)  # stand-in user id -> Yueban user id
    _orders: int = 0
    _offers: int = 100

    async def person(self, name: str, *, provider: bool = False, language_code: str = "en",
                     operator: bool = False) -> SimUser:
        sim = self.standin.create_user(name, language_code=language_code)
        user = await self.runtime.bus.handle(RegisterFromChannel(
            platform="telegram", external_id=str(sim.id), chat_id=str(sim.id),
            display_name=name, language_code=language_code))
        self.ids[sim.id] = int(user.id)
        if provider:
            await self.runtime.bus.handle(GrantRole(user_id=user.id, role="provider"))
        if operator:
            await self.runtime.bus.handle(GrantRole(user_id=user.id, role="operator"))
        self.directory.add_person(int(user.id), operator=operator)
        return sim

    def user_id(self, person: SimUser) -> int:
        return self.ids[person.id]

    async def accepted_order(self, customer: SimUser, provider: SimUser, *,
                             on_site: bool = False) -> Order:
        self._orders += 1
        self._offers += 1
        provider_id = self.user_id(provider)
        if provider_id not in self.directory.providers:
            self.directory.add_provider(provider_id)
        card = self.directory.providers[provider_id]
        self.directory.offers[self._offers] = OfferCard(
            self._offers, card.id, ON_SITE if on_site else ONLINE, Money(5000, "CNY"))
        start = self.clock.now().replace(hour=0, minute=0) + timedelta(
            days=2, hours=8 + self._orders)
        bus = self.runtime.bus
        customer_id = self.user_id(customer)
        order: Order = await bus.handle(b.BookOrder(
            actor_id=customer_id, offer_id=self._offers, units=1, start=start,
            address="静安区 南京西路 1266 号" if on_site else None))
        await bus.handle(b.PayOrder(actor_id=customer_id, order_id=order.id))
        accepted: Order = await bus.handle(b.AcceptOrder(actor_id=provider_id, order_id=order.id))
        await self.drain()
        return accepted

    async def drain(self) -> None:
        """Let every update and notice go out."""
        await self.bot.settle()
        await self.bot.service.relay.drain()


@pytest.fixture
async def chat(bot_settings: SettingsFactory, engine: AsyncEngine,  # noqa: F811
               clock: FixedClock, standin: BotApiStandIn) -> AsyncIterator[ChatWorld]:  # noqa: F811
    async with open_world(bot_settings, engine, clock, standin) as world:
        yield world


def open_world(make: SettingsFactory, engine: AsyncEngine, clock: FixedClock,
               standin: BotApiStandIn, **changes: Any) -> Any:  # noqa: F811
    @contextlib.asynccontextmanager
    async def run() -> AsyncIterator[ChatWorld]:
        watcher = standin.create_user("Olga", language_code="en")
        group = standin.create_group("Operators", [watcher], bot_is_admin=True)
        settings = make(telegram_admin_chat_id=group.id, **FAST_HANDS, **changes)
        directory = FakeDirectory()
        directory.add_category(ONLINE, "online_session")
        directory.add_category(ON_SITE, "on_site", pricing_unit="session")
        runtime = bootstrap(settings, clock=clock, engine=engine,
                            overrides={"directory": directory, "payments": FakePayments()})
        try:
            async with running_bot(settings, runtime, standin) as bot:
                for middleware in bot.service.bot.session.middleware:
                    if isinstance(middleware, OutboundRateLimitMiddleware):
                        middleware.limits = dataclasses.replace(
                            middleware.limits, per_chat_per_second=100.0, per_chat_burst=100)
                yield ChatWorld(bot, runtime, standin, clock, directory, group, watcher)
        finally:
            journal = runtime.bus.dependencies.get("relay_journal")
            if journal is not None:
                await journal.close()  # its own connection; the engine is the fixture's

    return run()


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


async def received(person: SimUser, where: Callable[[dict[str, Any]], bool], *,
                   chat: Any = None, within: float = 5.0) -> dict[str, Any]:
    """The newest bot message in the person's chat that `where` accepts, waiting for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        messages = person.bot_messages(chat) if chat is not None else person.bot_messages()
        for message in reversed(messages):
            if where(message):
                return message
        if loop.time() > deadline:
            shown = "\n---\n".join(repr(m)[:300] for m in messages[-5:])
            raise AssertionError(f"nothing arrived that matches; the latest:\n{shown}")
        await asyncio.sleep(0.01)


def saying(*parts: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: all(p in text_of(m) for p in parts)
