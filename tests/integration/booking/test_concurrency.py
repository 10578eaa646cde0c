"""Races: many providers tapping one open order, many customers booking one slot, two
sweepers at once. Run on PostgreSQL (real row locks) and SQLite (one writer at a time)."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from core.booking import commands as c
from core.booking.model import Order
from core.booking.slots import overlaps
from core.booking.states import OrderState
from core.shared.errors import DomainError
from core.shared.money import Money
from tests.integration.booking.conftest import CATEGORY, CUSTOMER, World


async def test_200_concurrent_accepts_of_one_open_order_give_exactly_one_winner(world: World) -> None:
    providers = range(1000, 1200)
    for pid in providers:
        world.directory.add_provider(pid, offer_id=pid, category_id=CATEGORY)
    world.directory.favourite[CUSTOMER] = set(providers)
    order: Order = await world.bus.handle(c.PublishOpenOrder(
        actor_id=CUSTOMER, category_id=CATEGORY, units=1, unit_price=Money(5000, "CNY")))
    await world.bus.handle(c.PayOrder(actor_id=CUSTOMER, order_id=order.id))

    async def tap(pid: int) -> int | str:
        try:
            await world.bus.handle(c.AcceptOrder(actor_id=pid, order_id=order.id,
                                                 idempotency_key=f"tg:cb:{pid}"))
            return pid
        except DomainError as error:
            return error.key

    results = await asyncio.gather(*(tap(pid) for pid in providers))
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1
    assert set(r for r in results if isinstance(r, str)) == {"error.order.taken"}
    stored = await world.order(order.id)
    assert stored.provider_id == winners[0] and stored.state is OrderState.IN_SERVICE
    assert (await world.event_names()).count("OrderAccepted") == 1


async def test_100_concurrent_bookings_of_one_slot_give_exactly_one(world: World) -> None:
    customers = range(2000, 2100)
    for customer in customers:
        world.directory.add_person(customer)
    start = world.at(hour=14)

    async def book(customer: int) -> int | str:
        try:
            order = await world.book(customer=customer, start=start, units=1)
            return order.id
        except DomainError as error:
            return error.key

    results = await asyncio.gather(*(book(cu) for cu in customers))
    assert len([r for r in results if isinstance(r, int)]) == 1
    assert set(r for r in results if isinstance(r, str)) == {"error.booking.slot_gone"}
    async with world.runtime.uow_factory() as uow:
        assert len(await uow.slots.of_order(next(r for r in results if isinstance(r, int)))) == 4


async def test_concurrent_overlapping_ranges_never_both_succeed(world: World) -> None:
    rng = random.Random(7)
    customers = range(3000, 3060)
    for customer in customers:
        world.directory.add_person(customer)
    requests = [(cu, world.at(hour=9, minute=15 * rng.randrange(0, 40)), rng.randint(1, 3))
                for cu in customers]

    async def book(customer: int, start, units: int) -> Order | None:  # type: ignore[no-untyped-def]
        try:
            return await world.book(customer=customer, start=start, units=units)
        except DomainError as error:
            assert error.key in {"error.booking.slot_gone", "error.availability.outside_hours"}
            return None

    booked = [o for o in await asyncio.gather(*(book(*r) for r in requests)) if o is not None]
    assert booked
    ranges = [(o.scheduled_start, o.scheduled_end) for o in booked]
    for i, a in enumerate(ranges):
        for b in ranges[i + 1:]:
            assert not overlaps(a, b), (a, b)


async def test_two_sweepers_racing_apply_each_expiry_once(world: World) -> None:
    orders = []
    for hour in range(9, 19):
        order = await world.booked_and_paid(start=world.at(hour=hour), units=1)
        orders.append(order.id)
    world.clock.advance(timedelta(minutes=11))
    from core.booking.timers import sweep_due_orders

    reports = await asyncio.gather(sweep_due_orders(world.bus, world.clock.now()),
                                   sweep_due_orders(world.bus, world.clock.now()))
    assert sum(r.fired for r in reports) == len(orders)
    names = await world.event_names()
    assert names.count("OrderExpired") == len(orders)
    voids = [e for e in world.payments.effects if e[0] == "void"]
    assert sorted(e[1] for e in voids) == sorted(orders)
    assert world.directory.strikes[2] == len(orders)
    assert {(await world.order(i)).state for i in orders} == {OrderState.EXPIRED}
    assert (await sweep_due_orders(world.bus, world.clock.now())).fired == 0
