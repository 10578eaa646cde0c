"""Direct booking end to end on the real databases: book, pay, accept, serve, complete,
settle; and every bad input refused with a clear key and nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.booking import commands as c
from core.booking.model import Place
from core.booking.states import OrderState
from core.shared.errors import DomainError
from core.shared.money import Money
from tests.integration.booking.conftest import (
    CUSTOMER,
    ERRAND_OFFER,
    ONSITE_OFFER,
    OPERATOR,
    OTHER_CUSTOMER,
    PROVIDER,
    World,
)


async def test_a_booking_is_priced_numbered_and_waits_for_payment(world: World) -> None:
    order = await world.book(units=3)
    assert order.state is OrderState.AWAITING_PAYMENT
    assert order.number.startswith("YB") and len(order.number) == 7
    assert order.price.total == Money(15000, "CNY")
    assert order.scheduled_end - order.scheduled_start == timedelta(hours=3)
    stored = await world.order(order.id)
    assert (stored.number, stored.price, stored.scheduled_start) == (
        order.number, order.price, order.scheduled_start)
    history = (await world.bus.handle(c.GetOrder(number=order.number.lower()))).history
    assert [(h.action, h.from_state, h.to_state) for h in history] == [
        ("submit", "draft", "awaiting_payment")]


async def test_the_happy_path_ends_in_settlement_after_the_dispute_window(world: World) -> None:
    order = await world.accepted()
    assert order.state is OrderState.ACCEPTED and order.commission_bps == 2000
    world.clock.set(order.scheduled_start)
    await world.bus.handle(c.StartOrder(actor_id=PROVIDER, order_id=order.id))
    await world.bus.handle(c.FinishOrder(actor_id=PROVIDER, order_id=order.id, proof="photo:1"))
    done = await world.bus.handle(c.ConfirmOrder(actor_id=CUSTOMER, order_id=order.id))
    assert done.state is OrderState.COMPLETED
    assert world.payments.outcome(order.id) is None, "money stays held while disputes are possible"
    world.clock.advance(timedelta(hours=73))
    from core.booking.timers import sweep_due_orders

    await sweep_due_orders(world.bus, world.clock.now())
    settled = await world.order(order.id)
    assert settled.settled_at is not None
    kind, _, split = world.payments.outcome(order.id)
    assert kind == "capture" and split.platform == Money(2000, "CNY")
    names = await world.event_names()
    for name in ("OrderPlaced", "OrderPaid", "OrderAccepted", "OrderStarted", "OrderDelivered",
                 "OrderCompleted", "OrderSettled"):
        assert names.count(name) == 1, name
    assert world.directory.stats[PROVIDER][0] == 1.0


async def test_an_instant_order_starts_on_acceptance(world: World) -> None:
    order = await world.accepted(instant=True)
    assert order.state is OrderState.IN_SERVICE
    assert order.started_at == world.clock.now()
    assert order.scheduled_end == world.clock.now() + timedelta(hours=2)


async def test_instant_orders_need_an_online_provider(world: World) -> None:
    world.directory.set_presence(PROVIDER, "offline")
    with pytest.raises(DomainError) as caught:
        await world.book(instant=True)
    assert caught.value.key == "error.booking.provider_not_online"


async def test_of_two_overlapping_bookings_only_the_first_succeeds(world: World) -> None:
    first = await world.book(start=world.at(hour=10), units=2)
    with pytest.raises(DomainError) as caught:
        await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=11, minute=30), units=1)
    assert caught.value.key == "error.booking.slot_gone"
    # back to back is fine
    second = await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=12), units=1)
    assert second.id != first.id


async def test_the_slot_guarantee_holds_even_when_the_availability_check_is_fooled(world: World) -> None:
    async def nothing_busy(*args: object, **kwargs: object) -> list[object]:
        return []

    await world.book(start=world.at(hour=10), units=2)
    # Even if a stale read said the time was free, the cell rows refuse the overlap.
    world.directory.check_slot = nothing_busy  # type: ignore[method-assign,assignment]
    with pytest.raises(DomainError) as caught:
        await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=11, minute=45), units=1)
    assert caught.value.key == "error.booking.slot_gone"


async def test_a_cancelled_booking_frees_its_slot(world: World) -> None:
    order = await world.book(start=world.at(hour=10))
    await world.bus.handle(c.CancelOrder(actor_id=CUSTOMER, order_id=order.id, reason="oops"))
    again = await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=10))
    assert again.state is OrderState.AWAITING_PAYMENT


@pytest.mark.parametrize("case,key", [
    ("past", "error.availability.in_past"),
    ("too_soon", "error.availability.too_little_notice"),
    ("beyond_horizon", "error.availability.beyond_horizon"),
    ("outside_hours", "error.availability.outside_hours"),
    ("self", "error.booking.self_booking"),
    ("suspended", "error.provider.suspended"),
    ("vacation", "error.provider.on_vacation"),
    ("blocked", "error.booking.blocked"),
    ("banned", "error.user.banned"),
    ("no_units", "error.booking.too_few_units"),
    ("naive_time", "error.booking.time_without_zone"),
    ("unknown_offer", "error.offer.not_found"),
    ("no_address", "error.booking.address_required"),
])
async def test_bad_bookings_are_refused_and_change_nothing(world: World, case: str, key: str) -> None:
    now = world.clock.now()
    kwargs: dict[str, object] = {"start": world.at(hour=10)}
    customer = CUSTOMER
    if case == "past":
        kwargs["start"] = now - timedelta(hours=1)
    elif case == "too_soon":
        kwargs["start"] = now + timedelta(minutes=30)
    elif case == "beyond_horizon":
        kwargs["start"] = world.at(days=40)
    elif case == "outside_hours":
        kwargs["start"] = world.at(hour=3)
    elif case == "self":
        customer = PROVIDER
    elif case == "suspended":
        world.directory.suspended.add(PROVIDER)
    elif case == "vacation":
        world.directory.set_presence(PROVIDER, "vacation")
    elif case == "blocked":
        world.directory.blocks.add((PROVIDER, CUSTOMER))
    elif case == "banned":
        world.directory.banned.add(CUSTOMER)
    elif case == "no_units":
        kwargs["units"] = 0
    elif case == "naive_time":
        kwargs["start"] = world.at(hour=10).replace(tzinfo=None)
    elif case == "unknown_offer":
        kwargs["offer"] = 999
    elif case == "no_address":
        kwargs["offer"] = ONSITE_OFFER
    with pytest.raises(DomainError) as caught:
        await world.book(customer=customer, **kwargs)  # type: ignore[arg-type]
    assert caught.value.key == key
    assert await world.event_names() == []
    async with world.runtime.uow_factory() as uow:
        assert await uow.orders.list(c_filter()) == []


def c_filter():  # type: ignore[no-untyped-def]
    from core.booking.ports import OrderFilter

    return OrderFilter()


async def test_accept_refusals_are_specific(world: World) -> None:
    order = await world.booked_and_paid()
    with pytest.raises(DomainError) as stranger:
        await world.bus.handle(c.AcceptOrder(actor_id=OTHER_CUSTOMER, order_id=order.id))
    assert stranger.value.key == "error.order.not_yours"
    await world.bus.handle(c.AcceptOrder(actor_id=PROVIDER, order_id=order.id))
    with pytest.raises(DomainError) as double:
        await world.bus.handle(c.AcceptOrder(actor_id=PROVIDER, order_id=order.id))
    assert double.value.key == "error.order.already_accepted"


async def test_a_double_tap_with_the_same_key_has_one_effect(world: World) -> None:
    from core.shared.errors import AlreadyProcessed

    order = await world.booked_and_paid()
    await world.bus.handle(c.AcceptOrder(actor_id=PROVIDER, order_id=order.id,
                                         idempotency_key="tg:cb:77"))
    with pytest.raises(AlreadyProcessed):
        await world.bus.handle(c.AcceptOrder(actor_id=PROVIDER, order_id=order.id,
                                             idempotency_key="tg:cb:77"))
    assert (await world.event_names()).count("OrderAccepted") == 1


async def test_accepting_after_the_deadline_is_refused_even_before_the_sweep(world: World) -> None:
    order = await world.booked_and_paid()
    world.clock.advance(timedelta(minutes=11))
    with pytest.raises(DomainError) as caught:
        await world.bus.handle(c.AcceptOrder(actor_id=PROVIDER, order_id=order.id))
    assert caught.value.key == "error.order.expired"
    assert (await world.order(order.id)).state is OrderState.PENDING_ACCEPTANCE


async def test_rejecting_refunds_in_full_and_suggests_others(world: World) -> None:
    world.directory.add_provider(5, offer_id=15, category_id=1)
    order = await world.booked_and_paid()
    with pytest.raises(DomainError):
        await world.bus.handle(c.RejectOrder(actor_id=PROVIDER, order_id=order.id, reason=" "))
    rejected = await world.bus.handle(c.RejectOrder(actor_id=PROVIDER, order_id=order.id,
                                                    reason="fully booked"))
    assert rejected.state is OrderState.REJECTED
    kind, refund, _ = world.payments.outcome(order.id)
    assert (kind, refund) == ("void", Money(10000, "CNY"))
    event = next(e for e in await world.events() if e.type_name() == "OrderRejected")
    assert event.alternatives == (5,)  # type: ignore[attr-defined]


async def test_paying_with_a_refused_method_leaves_the_order_unpaid(world: World) -> None:
    order = await world.book()
    world.payments.refuse_methods.add("wallet")
    with pytest.raises(DomainError):
        await world.bus.handle(c.PayOrder(actor_id=CUSTOMER, order_id=order.id))
    assert (await world.order(order.id)).state is OrderState.AWAITING_PAYMENT


async def test_on_site_check_in_must_be_near_the_address(world: World) -> None:
    home = Place(31.2304, 121.4737)
    order = await world.accepted(offer=ONSITE_OFFER, units=1, place=home, address="Room 1")
    world.clock.set(order.scheduled_start)
    with pytest.raises(DomainError) as far:
        await world.bus.handle(c.StartOrder(actor_id=PROVIDER, order_id=order.id,
                                            location=Place(31.30, 121.50)))
    assert far.value.key == "error.order.checkin_too_far"
    started = await world.bus.handle(c.StartOrder(actor_id=PROVIDER, order_id=order.id,
                                                  location=Place(31.2306, 121.4739)))
    assert started.state is OrderState.IN_SERVICE and started.checkin.startswith("location:")


async def test_an_errand_is_delivered_with_the_customers_code(world: World) -> None:
    order = await world.accepted(offer=ERRAND_OFFER, units=5, address="Gate 3")
    assert order.delivery_code and len(order.delivery_code) == 6
    world.clock.set(order.scheduled_start)
    await world.bus.handle(c.StartOrder(actor_id=PROVIDER, order_id=order.id))
    with pytest.raises(DomainError) as wrong:
        await world.bus.handle(c.FinishOrder(actor_id=PROVIDER, order_id=order.id,
                                             delivery_code="000000" if order.delivery_code != "000000" else "111111"))
    assert wrong.value.key == "error.order.delivery_code_wrong"
    done = await world.bus.handle(c.FinishOrder(actor_id=PROVIDER, order_id=order.id,
                                                delivery_code=order.delivery_code))
    assert done.state is OrderState.DELIVERED


async def test_extension_holds_more_money_and_more_time(world: World) -> None:
    ten, noon = world.at(hour=10), world.at(hour=12)
    order = await world.accepted(start=ten, units=1)
    await world.bus.handle(c.ExtendOrder(actor_id=CUSTOMER, order_id=order.id, extra_units=2))
    world.clock.set(ten)
    await world.bus.handle(c.StartOrder(actor_id=PROVIDER, order_id=order.id))
    longer = await world.bus.handle(c.ExtendOrder(actor_id=CUSTOMER, order_id=order.id,
                                                  extra_units=1))
    assert longer.price.total == Money(20000, "CNY")
    assert longer.scheduled_end == ten + timedelta(hours=4)
    assert await world.payments.held(None, order.id) == Money(20000, "CNY")
    assert [e[2] for e in world.payments.effects] == [5000, 10000, 5000]
    # the extended time is the provider's: nobody else can book noon
    world.clock.set(ten - timedelta(days=1))
    with pytest.raises(DomainError):
        await world.book(customer=OTHER_CUSTOMER, start=noon, units=1)


async def test_an_extension_that_runs_into_the_next_booking_is_refused(world: World) -> None:
    order = await world.accepted(start=world.at(hour=10), units=1)
    await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=11), units=1)
    with pytest.raises(DomainError) as caught:
        await world.bus.handle(c.ExtendOrder(actor_id=CUSTOMER, order_id=order.id, extra_units=1))
    assert caught.value.key == "error.booking.slot_gone"
    assert (await world.order(order.id)).price.units == 1
    assert await world.payments.held(None, order.id) == Money(5000, "CNY")


async def test_tips_go_to_the_provider_after_delivery(world: World) -> None:
    order = await world.accepted(instant=True)
    await world.bus.handle(c.FinishOrder(actor_id=PROVIDER, order_id=order.id))
    await world.bus.handle(c.TipOrder(actor_id=CUSTOMER, order_id=order.id,
                                      amount=Money(888, "CNY")))
    assert world.payments.tips == [(order.id, Money(888, "CNY"))]


async def test_an_order_is_read_only_by_its_parties_and_operators(world: World) -> None:
    order = await world.accepted()
    for reader in (CUSTOMER, PROVIDER, OPERATOR):
        details = await world.bus.handle(c.GetOrder(order_id=order.id, actor_id=reader))
        assert details.order.number == order.number
    with pytest.raises(DomainError) as refused:
        await world.bus.handle(c.GetOrder(order_id=order.id, actor_id=OTHER_CUSTOMER))
    assert refused.value.key == "error.order.not_yours"
    # Listing: one's own orders, or anything for an operator; never someone else's.
    mine = await world.bus.handle(c.ListOrders(customer_id=CUSTOMER, actor_id=CUSTOMER))
    assert [o.id for o in mine] == [order.id]
    assert await world.bus.handle(c.ListOrders(provider_id=PROVIDER, actor_id=OPERATOR))
    with pytest.raises(DomainError) as refused:
        await world.bus.handle(c.ListOrders(customer_id=CUSTOMER, actor_id=OTHER_CUSTOMER))
    assert refused.value.key == "error.order.not_yours"
