"""A wired runtime whose booking handlers see in-memory identity, catalog and wallet peers,
on the real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from core.booking import commands as c
from core.booking.model import Order
from core.shared.clock import FixedClock
from core.shared.messages import Event
from core.shared.money import Money
from tests.unit.booking.fakes import FakeDirectory, FakePayments

CUSTOMER, PROVIDER, OTHER_CUSTOMER, OPERATOR = 1, 2, 3, 9
CATEGORY, ONSITE, ERRAND = 1, 2, 3
OFFER, ONSITE_OFFER, ERRAND_OFFER = 11, 12, 13
PRICE = Money(5000, "CNY")


@dataclass
class World:
    runtime: Runtime
    directory: FakeDirectory
    payments: FakePayments
    clock: FixedClock

    @property
    def bus(self) -> Any:
        return self.runtime.bus

    def at(self, days: int = 2, hour: int = 10, minute: int = 0) -> datetime:
        """A moment `days` after today at hour:minute UTC."""
        base = self.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        return base + timedelta(days=days, hours=hour, minutes=minute)

    async def book(self, customer: int = CUSTOMER, offer: int = OFFER, units: int = 2,
                   start: datetime | None = None, instant: bool = False, **kw: Any) -> Order:
        order: Order = await self.bus.handle(c.BookOrder(
            actor_id=customer, offer_id=offer, units=units,
            start=None if instant else (start or self.at()), **kw))
        return order

    async def booked_and_paid(self, **kw: Any) -> Order:
        order = await self.book(**kw)
        paid: Order = await self.bus.handle(c.PayOrder(actor_id=order.customer_id,
                                                      order_id=order.id))
        return paid

    async def accepted(self, **kw: Any) -> Order:
        order = await self.booked_and_paid(**kw)
        accepted: Order = await self.bus.handle(c.AcceptOrder(actor_id=order.provider_id,
                                                             order_id=order.id))
        return accepted

    async def order(self, order_id: int) -> Order:
        async with self.runtime.uow_factory() as uow:
            order: Order = await uow.orders.get(order_id)
            return order

    async def events(self) -> list[Event]:
        async with self.runtime.uow_factory() as uow:
            return [r.event for r in await uow.outbox.claim_batch(10_000)]

    async def event_names(self) -> list[str]:
        return [e.type_name() for e in await self.events()]


def make_directory() -> FakeDirectory:
    directory = FakeDirectory()
    for person in (CUSTOMER, OTHER_CUSTOMER):
        directory.add_person(person)
    directory.add_person(OPERATOR, operator=True)
    directory.add_category(CATEGORY, "online_session")
    directory.add_category(ONSITE, "on_site", pricing_unit="session")
    directory.add_category(ERRAND, "errand", pricing_unit="base_per_km")
    directory.add_provider(PROVIDER, offer_id=OFFER, category_id=CATEGORY, price=PRICE)
    directory.offers[ONSITE_OFFER] = type(directory.offers[OFFER])(
        ONSITE_OFFER, PROVIDER, ONSITE, Money(20000, "CNY"))
    directory.offers[ERRAND_OFFER] = type(directory.offers[OFFER])(
        ERRAND_OFFER, PROVIDER, ERRAND, Money(300, "CNY"))
    return directory


@pytest.fixture
def world(settings: Settings, engine: AsyncEngine, clock: FixedClock) -> World:
    directory, payments = make_directory(), FakePayments()
    runtime = bootstrap(settings, clock=clock, engine=engine,
                        overrides={"directory": directory, "payments": payments})
    return World(runtime, directory, payments, clock)
