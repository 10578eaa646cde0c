"""A wired runtime for relay tests on the real databases: real people (identity), real
orders (booking, its catalog and wallet peers in memory), and helpers that speak the way a
chat adapter does: register on a platform, send, report the delivered copy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from core.booking import commands as b
from core.booking.model import Order
from core.identity.commands import GrantRole, RegisterFromChannel
from core.relay import commands as r
from core.relay.model import Location
from core.relay.policy import RelayPolicy
from core.shared.clock import FixedClock
from core.shared.messages import Event
from core.shared.money import Money
from tests.unit.booking.fakes import FakeDirectory, FakePayments

ONLINE, ON_SITE = 1, 2
ONLINE_OFFER, ON_SITE_OFFER, OTHER_OFFER = 11, 12, 13


@dataclass
class Person:
    id: int
    platform: str
    chat_id: str


@dataclass
class RelayWorld:
    runtime: Runtime
    clock: FixedClock
    directory: FakeDirectory
    customer: Person
    provider: Person
    other_provider: Person
    operator: Person
    stranger: Person
    _message_ids: dict[str, int] = field(default_factory=dict)
    _orders: int = 0

    @property
    def bus(self) -> Any:
        return self.runtime.bus

    def next_message_id(self, chat_id: str) -> str:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 100) + 1
        return str(self._message_ids[chat_id])

    async def accepted_order(self, *, customer: Person | None = None,
                             provider: Person | None = None, on_site: bool = False) -> Order:
        customer = customer or self.customer
        provider = provider or self.provider
        offer = ON_SITE_OFFER if on_site else (
            ONLINE_OFFER if provider is self.provider else OTHER_OFFER)
        # Each order takes the next free hour, so one provider can hold several.
        self._orders += 1
        start = self.clock.now().replace(hour=0, minute=0) + timedelta(days=2, hours=9 + self._orders)
        address = "静安区 南京西路 1266 号 3 楼" if on_site else None
        order: Order = await self.bus.handle(b.BookOrder(
            actor_id=customer.id, offer_id=offer, units=1, start=start, address=address))
        await self.bus.handle(b.PayOrder(actor_id=customer.id, order_id=order.id))
        accepted: Order = await self.bus.handle(b.AcceptOrder(actor_id=provider.id,
                                                              order_id=order.id))
        return accepted

    async def complete(self, order: Order) -> None:
        """Serve the order to its end: start at its time, finish, confirm."""
        assert order.scheduled_start is not None and order.provider_id is not None
        self.clock.set(order.scheduled_start)
        await self.bus.handle(b.StartOrder(actor_id=order.provider_id, order_id=order.id,
                                           photo="tg:photo:door"))
        await self.bus.handle(b.FinishOrder(actor_id=order.provider_id, order_id=order.id))
        await self.bus.handle(b.ConfirmOrder(actor_id=order.customer_id, order_id=order.id))

    async def send(self, sender: Person, text: str | None = None, *, kind: str = "text",
                   reply_to: str | None = None, files: tuple[str, ...] = (),
                   media_group_id: str | None = None, location: Location | None = None,
                   message_id: str | None = None) -> r.RelayPlan:
        plan: r.RelayPlan = await self.bus.handle(r.RouteInbound(
            sender_user_id=sender.id, platform=sender.platform, chat_id=sender.chat_id,
            message_id=message_id or self.next_message_id(sender.chat_id), kind=kind,
            text=text, files=files, reply_to_message_id=reply_to,
            media_group_id=media_group_id, location=location,
        ))
        return plan

    async def deliver(self, plan: r.RelayPlan) -> dict[int, str]:
        """Pretend to be the adapter: every target got a copy with a fresh id; record it."""
        delivered = {}
        for target in plan.targets:
            copy_id = self.next_message_id(target.chat_id)
            await self.bus.handle(r.RecordRelayed(
                relayed_message_id=plan.relayed_message_id, recipient_user_id=target.user_id,
                to_platform=target.platform, to_chat_id=target.chat_id, to_message_id=copy_id,
            ))
            delivered[target.user_id] = copy_id
        return delivered

    async def send_and_deliver(self, sender: Person, text: str, **kw: Any) -> tuple[r.RelayPlan, dict[int, str]]:
        plan = await self.send(sender, text, **kw)
        return plan, await self.deliver(plan)

    async def events(self, name: str | None = None) -> list[Event]:
        async with self.runtime.uow_factory() as uow:
            found = [rec.event for rec in await uow.outbox.claim_batch(100_000)]
        return [e for e in found if name is None or e.type_name() == name]


async def _register(runtime: Runtime, platform: str, external_id: str, *roles: str) -> Person:
    user = await runtime.bus.handle(RegisterFromChannel(
        platform=platform, external_id=external_id, chat_id=f"{platform}-{external_id}",
        display_name=f"user {external_id}", language_code="zh",
    ))
    for role in roles:
        await runtime.bus.handle(GrantRole(user_id=user.id, role=role))
    return Person(int(user.id), platform, f"{platform}-{external_id}")


async def make_world(settings: Settings, engine: AsyncEngine, clock: FixedClock,
                     policy: RelayPolicy | None = None) -> RelayWorld:
    directory = FakeDirectory()
    overrides: dict[str, Any] = {"directory": directory, "payments": FakePayments()}
    if policy is not None:
        overrides["relay_policy"] = policy
    runtime = bootstrap(settings, clock=clock, engine=engine, overrides=overrides)
    customer = await _register(runtime, "telegram", "1001")
    provider = await _register(runtime, "telegram", "2001", "provider")
    other_provider = await _register(runtime, "wechat", "oW-2002", "provider")
    operator = await _register(runtime, "telegram", "9001", "operator")
    stranger = await _register(runtime, "telegram", "7001")
    directory.add_person(customer.id)
    directory.add_person(stranger.id)
    directory.add_person(operator.id, operator=True)
    directory.add_category(ONLINE, "online_session")
    directory.add_category(ON_SITE, "on_site", pricing_unit="session")
    directory.add_provider(provider.id, offer_id=ONLINE_OFFER, category_id=ONLINE)
    directory.add_provider(other_provider.id, offer_id=OTHER_OFFER, category_id=ONLINE)
    directory.offers[ON_SITE_OFFER] = type(directory.offers[ONLINE_OFFER])(
        ON_SITE_OFFER, provider.id, ON_SITE, Money(20000, "CNY"))
    return RelayWorld(runtime, clock, directory, customer, provider, other_provider, operator,
                      stranger)


@pytest.fixture
async def world(settings: Settings, engine: AsyncEngine,
                clock: FixedClock) -> AsyncIterator[RelayWorld]:
    made = await make_world(settings, engine, clock)
    yield made
    journal = made.runtime.bus.dependencies.get("relay_journal")
    if journal is not None:
        await journal.close()  # its own connection; the engine is the fixture's to close


def at(clock: FixedClock, hours: float) -> datetime:
    return clock.now() + timedelta(hours=hours)
