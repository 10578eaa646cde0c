"""Open orders: matching, dispatch waves, raising the price, first accept wins."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.booking import commands as c
from core.booking.model import Order
from core.booking.states import OrderState
from core.booking.timers import sweep_due_orders
from core.shared.errors import DomainError
from core.shared.money import Money
from tests.integration.booking.conftest import CATEGORY, CUSTOMER, PROVIDER, World

BUDGET = Money(6000, "CNY")


async def publish(world: World, **kw: object) -> Order:
    order: Order = await world.bus.handle(c.PublishOpenOrder(
        actor_id=CUSTOMER, category_id=CATEGORY, units=2, unit_price=BUDGET, **kw))  # type: ignore[arg-type]
    paid: Order = await world.bus.handle(c.PayOrder(actor_id=CUSTOMER, order_id=order.id))
    return paid


def add_providers(world: World, ids: range, **kw: object) -> None:
    for pid in ids:
        world.directory.add_provider(pid, offer_id=1000 + pid, category_id=CATEGORY, **kw)  # type: ignore[arg-type]


async def offers(world: World) -> list[tuple[int, tuple[int, ...]]]:
    return [(e.wave, e.provider_ids) for e in await world.events()  # type: ignore[attr-defined]
            if e.type_name() == "OrderOffered"]


async def test_waves_go_to_favourites_then_the_top_then_everyone(world: World) -> None:
    add_providers(world, range(100, 130))
    world.directory.favourite[CUSTOMER] = {105, 120}
    order = await publish(world)
    assert order.state is OrderState.PENDING_ACCEPTANCE and order.wave == 1
    assert await offers(world) == [(1, (105, 120))]
    world.clock.advance(timedelta(minutes=3))
    await sweep_due_orders(world.bus, world.clock.now())
    second = (await offers(world))[1]
    assert second[0] == 2 and len(second[1]) == 20 and not {105, 120} & set(second[1])
    world.clock.advance(timedelta(minutes=3))
    await sweep_due_orders(world.bus, world.clock.now())
    third = (await offers(world))[2]
    everyone = {PROVIDER, *range(100, 130)}
    assert third[0] == 3 and set(third[1]) | set(second[1]) | {105, 120} == everyone
    assert (await world.order(order.id)).next_wave_at is None


async def test_an_empty_wave_is_skipped_at_once(world: World) -> None:
    add_providers(world, range(100, 105))
    await publish(world)
    assert [w for w, _ in await offers(world)] == [2]


async def test_matching_leaves_out_blocked_suspended_and_unfit_providers(world: World) -> None:
    add_providers(world, range(100, 104), tier=3, tags=frozenset({"mic"}))
    world.directory.blocks.add((CUSTOMER, 100))
    world.directory.suspended.add(101)
    await publish(world, tier_min=2, tags=frozenset({"mic"}))
    offered = {p for _, ids in await offers(world) for p in ids}
    assert offered == {102, 103}


async def test_first_accept_wins_and_everyone_else_sees_taken(world: World) -> None:
    add_providers(world, range(100, 103))
    order = await publish(world)
    won = await world.bus.handle(c.AcceptOrder(actor_id=101, order_id=order.id))
    assert won.state is OrderState.IN_SERVICE and won.provider_id == 101
    with pytest.raises(DomainError) as caught:
        await world.bus.handle(c.AcceptOrder(actor_id=102, order_id=order.id))
    assert caught.value.key == "error.order.taken"
    taken = next(e for e in await world.events() if e.type_name() == "OpenOrderTaken")
    assert set(taken.other_provider_ids) == {PROVIDER, 100, 102}  # type: ignore[attr-defined]


async def test_a_provider_who_was_not_offered_cannot_accept(world: World) -> None:
    order = await publish(world)
    world.directory.add_provider(555)
    with pytest.raises(DomainError) as caught:
        await world.bus.handle(c.AcceptOrder(actor_id=555, order_id=order.id))
    assert caught.value.key == "error.order.not_offered"


async def test_a_scheduled_open_order_reserves_the_winners_time(world: World) -> None:
    add_providers(world, range(100, 102))
    start = world.at(hour=15)
    order = await publish(world, start=start)
    accepted = await world.bus.handle(c.AcceptOrder(actor_id=100, order_id=order.id))
    assert accepted.state is OrderState.ACCEPTED
    async with world.runtime.uow_factory() as uow:
        assert len(await uow.slots.of_order(order.id)) == 8  # two hours of 15-minute cells


async def test_raising_the_price_between_waves_holds_the_difference(world: World) -> None:
    add_providers(world, range(100, 103))
    order = await publish(world)
    raised = await world.bus.handle(c.RaiseOpenOrderPrice(
        actor_id=CUSTOMER, order_id=order.id, unit_price=Money(7000, "CNY"),
        bonus=Money(500, "CNY")))
    assert raised.price.total == Money(14500, "CNY")
    assert await world.payments.held(None, order.id) == Money(14500, "CNY")
    with pytest.raises(DomainError) as lower:
        await world.bus.handle(c.RaiseOpenOrderPrice(actor_id=CUSTOMER, order_id=order.id,
                                                     unit_price=Money(100, "CNY")))
    assert lower.value.key == "error.order.price_cannot_drop"
    event = next(e for e in await world.events() if e.type_name() == "OpenOrderPriceRaised")
    assert set(event.provider_ids) == {PROVIDER, 100, 101, 102}  # type: ignore[attr-defined]


async def test_an_open_order_nobody_takes_expires_and_is_refunded(world: World) -> None:
    add_providers(world, range(100, 102))
    order = await publish(world)
    world.clock.advance(timedelta(minutes=11))
    await sweep_due_orders(world.bus, world.clock.now())
    expired = await world.order(order.id)
    assert expired.state is OrderState.EXPIRED
    assert world.payments.outcome(order.id)[:2] == ("void", Money(12000, "CNY"))
    assert world.directory.strikes == {}, "nobody is blamed for an open order nobody took"


async def test_bad_open_orders_are_refused(world: World) -> None:
    with pytest.raises(DomainError) as caught:
        await world.bus.handle(c.PublishOpenOrder(actor_id=CUSTOMER, category_id=CATEGORY,
                                                  units=1, unit_price=Money(0, "CNY")))
    assert caught.value.key == "error.booking.budget_required"
    with pytest.raises(DomainError) as past:
        await world.bus.handle(c.PublishOpenOrder(
            actor_id=CUSTOMER, category_id=CATEGORY, units=1, unit_price=BUDGET,
            start=world.clock.now() - timedelta(hours=1)))
    assert past.value.key == "error.booking.in_the_past"
    assert await world.event_names() == []
