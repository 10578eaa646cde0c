"""Cancellation fees, strikes and suspension, no-shows, reschedules, operator actions,
disputes, and durable timers that survive a restart between steps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.bootstrap import bootstrap
from core.booking import commands as c
from core.booking.states import OrderState
from core.booking.timers import sweep_due_orders
from core.shared.errors import DomainError
from core.shared.money import Money
from tests.integration.booking.conftest import (
    CATEGORY,
    CUSTOMER,
    OPERATOR,
    OTHER_CUSTOMER,
    PROVIDER,
    World,
)


async def sweep(world: World) -> None:
    await sweep_due_orders(world.bus, world.clock.now())


@pytest.mark.parametrize("hours_before,fee", [(30, 0), (10, 3000), (1, 10000)])
async def test_customer_cancellation_fee_follows_the_notice(world: World, hours_before: int,
                                                            fee: int) -> None:
    start = world.at(days=3, hour=12)
    order = await world.accepted(start=start, units=2)
    world.clock.set(start - timedelta(hours=hours_before))
    cancelled = await world.bus.handle(c.CancelOrder(actor_id=CUSTOMER, order_id=order.id))
    assert cancelled.state is OrderState.CANCELLED
    assert cancelled.fee == Money(fee, "CNY")
    _kind, refund, split = world.payments.outcome(order.id)
    assert refund == Money(10000 - fee, "CNY")
    assert split.provider + split.platform + split.venue == Money(fee, "CNY")
    assert world.directory.strikes.get(CUSTOMER, 0) == (1 if fee else 0)


async def test_cancelling_before_acceptance_is_free(world: World) -> None:
    order = await world.booked_and_paid(start=world.at(days=0, hour=11))
    cancelled = await world.bus.handle(c.CancelOrder(actor_id=CUSTOMER, order_id=order.id))
    assert cancelled.fee == Money(0, "CNY") and cancelled.refund == Money(10000, "CNY")


async def test_provider_cancellations_are_strikes_and_suspend_at_the_threshold(world: World) -> None:
    for n in range(3):
        order = await world.accepted(start=world.at(hour=9 + 2 * n), units=1)
        await world.bus.handle(c.CancelOrder(actor_id=PROVIDER, order_id=order.id, reason="ill"))
        assert world.payments.outcome(order.id)[1] == Money(5000, "CNY")
    assert world.directory.strikes[PROVIDER] == 3
    assert PROVIDER in world.directory.suspended
    assert (await world.event_names()).count("ProviderAutoSuspended") == 1
    with pytest.raises(DomainError) as caught:
        await world.book(start=world.at(hour=20), units=1)
    assert caught.value.key == "error.provider.suspended"


async def test_a_provider_rejects_rather_than_cancels_an_unaccepted_order(world: World) -> None:
    order = await world.booked_and_paid()
    with pytest.raises(DomainError) as caught:
        await world.bus.handle(c.CancelOrder(actor_id=PROVIDER, order_id=order.id))
    assert caught.value.key == "error.order.reject_instead"


async def test_provider_no_show_refunds_and_strikes_the_provider(world: World) -> None:
    order = await world.accepted()
    world.clock.set(order.scheduled_start + timedelta(minutes=20))
    ended = await world.bus.handle(c.MarkNoShow(actor_id=CUSTOMER, order_id=order.id))
    assert (ended.state, ended.close_reason) == (OrderState.CANCELLED, "provider_no_show")
    assert world.payments.outcome(order.id)[:2] == ("void", Money(10000, "CNY"))
    assert world.directory.strikes == {PROVIDER: 1}
    assert world.directory.stats[PROVIDER][0] == 0.0


async def test_customer_no_show_pays_the_provider_and_strikes_the_customer(world: World) -> None:
    order = await world.accepted()
    world.clock.set(order.scheduled_start + timedelta(minutes=20))
    ended = await world.bus.handle(c.MarkNoShow(actor_id=PROVIDER, order_id=order.id))
    assert ended.close_reason == "customer_no_show"
    _kind, refund, split = world.payments.outcome(order.id)
    assert refund == Money(0, "CNY") and split.provider == Money(8000, "CNY")
    assert world.directory.strikes == {CUSTOMER: 1}


async def test_reschedule_needs_consent_moves_the_slot_and_stops_at_the_maximum(world: World) -> None:
    order = await world.accepted(start=world.at(hour=10), units=1)
    await world.bus.handle(c.ProposeReschedule(actor_id=CUSTOMER, order_id=order.id,
                                               new_start=world.at(hour=15)))
    assert (await world.order(order.id)).scheduled_start == world.at(hour=10)
    moved = await world.bus.handle(c.AnswerReschedule(actor_id=PROVIDER, order_id=order.id,
                                                      agree=True))
    assert moved.scheduled_start == world.at(hour=15)
    # the old time is free again, the new one is taken
    await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=10), units=1)
    with pytest.raises(DomainError) as gone:
        await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=15), units=1)
    assert gone.value.key == "error.booking.slot_gone"
    await world.bus.handle(c.ProposeReschedule(actor_id=PROVIDER, order_id=order.id,
                                               new_start=world.at(hour=17)))
    await world.bus.handle(c.AnswerReschedule(actor_id=CUSTOMER, order_id=order.id, agree=True))
    with pytest.raises(DomainError) as limit:
        await world.bus.handle(c.ProposeReschedule(actor_id=CUSTOMER, order_id=order.id,
                                                   new_start=world.at(hour=19)))
    assert limit.value.key == "error.reschedule.limit"


async def test_a_reschedule_into_a_taken_time_is_refused(world: World) -> None:
    order = await world.accepted(start=world.at(hour=10), units=1)
    await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=15), units=1)
    with pytest.raises(DomainError) as caught:
        await world.bus.handle(c.ProposeReschedule(actor_id=CUSTOMER, order_id=order.id,
                                                   new_start=world.at(hour=15)))
    assert caught.value.key == "error.booking.slot_gone"
    assert (await world.order(order.id)).proposed_start is None


async def test_operators_cancel_with_a_fee_and_reassign(world: World) -> None:
    world.directory.add_provider(6, offer_id=16, category_id=CATEGORY)
    order = await world.accepted()
    with pytest.raises(DomainError) as not_operator:
        await world.bus.handle(c.ReassignOrder(actor_id=CUSTOMER, order_id=order.id, provider_id=6))
    assert not_operator.value.key == "error.order.operators_only"
    moved = await world.bus.handle(c.ReassignOrder(actor_id=OPERATOR, order_id=order.id,
                                                   provider_id=6, reason="provider ill"))
    assert (moved.state, moved.provider_id) == (OrderState.PENDING_ACCEPTANCE, 6)
    await world.bus.handle(c.AcceptOrder(actor_id=6, order_id=order.id))
    ended = await world.bus.handle(c.OperatorCancelOrder(order_id=order.id, reason="safety",
                                                         fee_bps=2500))
    assert ended.cancelled_by.value == "operator"
    assert world.payments.outcome(order.id)[1] == Money(7500, "CNY")


async def test_dispute_keeps_money_held_until_an_operator_decides(world: World) -> None:
    order = await world.accepted(instant=True)
    await world.bus.handle(c.FinishOrder(actor_id=PROVIDER, order_id=order.id))
    disputed = await world.bus.handle(c.OpenDispute(actor_id=CUSTOMER, order_id=order.id,
                                                    reason="left after 10 minutes"))
    assert disputed.state is OrderState.DISPUTED and disputed.dispute.id > 0
    assert disputed.auto_complete_at is None
    world.clock.advance(timedelta(hours=30))
    await sweep(world)
    assert (await world.order(order.id)).state is OrderState.DISPUTED
    await world.bus.handle(c.RespondToDispute(actor_id=PROVIDER, order_id=order.id,
                                              response="we played two hours"))
    world.clock.advance(timedelta(hours=30))
    await sweep(world)
    assert world.payments.outcome(order.id) is None, "answered: waits for an operator"
    with pytest.raises(DomainError) as bad:
        await world.bus.handle(c.ResolveDispute(order_id=order.id, outcome="partial"))
    assert bad.value.key == "error.dispute.partial_needs_one_amount"
    resolved = await world.bus.handle(c.ResolveDispute(order_id=order.id, outcome="partial",
                                                       refund_bps=2500, note="half played"))
    assert resolved.state is OrderState.RESOLVED
    assert resolved.dispute.refund == Money(2500, "CNY")
    assert world.payments.outcome(order.id)[1] == Money(2500, "CNY")
    listed = await world.bus.handle(c.ListOrders(disputed=True))
    assert [o.id for o in listed] == [order.id]


async def test_an_idle_dispute_follows_the_default_outcome(world: World) -> None:
    order = await world.accepted(instant=True)
    await world.bus.handle(c.FinishOrder(actor_id=PROVIDER, order_id=order.id))
    await world.bus.handle(c.OpenDispute(actor_id=CUSTOMER, order_id=order.id, reason="no show"))
    world.clock.advance(timedelta(hours=49))
    await sweep(world)
    resolved = await world.order(order.id)
    assert resolved.state is OrderState.RESOLVED and resolved.dispute.by_default
    assert world.payments.outcome(order.id)[:2] == ("void", Money(10000, "CNY"))


async def test_a_completed_order_can_still_be_disputed_within_the_window(world: World) -> None:
    order = await world.accepted(instant=True)
    await world.bus.handle(c.FinishOrder(actor_id=PROVIDER, order_id=order.id))
    await world.bus.handle(c.ConfirmOrder(actor_id=CUSTOMER, order_id=order.id))
    world.clock.advance(timedelta(hours=70))
    await world.bus.handle(c.OpenDispute(actor_id=PROVIDER, order_id=order.id,
                                         reason="customer damaged my account"))
    world.clock.advance(timedelta(hours=10))  # past the original settlement time
    await sweep(world)
    assert world.payments.outcome(order.id) is None, "a disputed order is not settled"
    assert (await world.order(order.id)).state is OrderState.DISPUTED
    world.clock.advance(timedelta(hours=39))  # the customer never answered
    await sweep(world)
    resolved = await world.order(order.id)
    assert resolved.state is OrderState.RESOLVED and resolved.dispute.outcome.value == "release"
    assert [e[0] for e in world.payments.effects] == ["hold", "capture"]


async def test_delivered_orders_auto_complete_and_settle_once(world: World) -> None:
    order = await world.accepted(instant=True)
    await world.bus.handle(c.FinishOrder(actor_id=PROVIDER, order_id=order.id))
    world.clock.advance(timedelta(hours=24))
    await sweep(world)
    assert (await world.order(order.id)).state is OrderState.COMPLETED
    world.clock.advance(timedelta(hours=72))
    await sweep(world)
    await sweep(world)
    assert [e[0] for e in world.payments.effects].count("capture") == 1
    names = await world.event_names()
    assert names.count("OrderCompleted") == 1 and names.count("OrderSettled") == 1


async def test_reminders_fire_once_each_24_and_1_hour_before(world: World) -> None:
    order = await world.accepted(start=world.at(days=3, hour=12))
    world.clock.set(order.scheduled_start - timedelta(hours=24))
    await sweep(world)
    await sweep(world)
    world.clock.set(order.scheduled_start - timedelta(minutes=59))
    await sweep(world)
    reminders = [e for e in await world.events() if e.type_name() == "OrderReminder"]
    assert [e.minutes_before for e in reminders] == [1440, 60]  # type: ignore[attr-defined]


async def test_an_unpaid_order_expires_and_frees_its_slot(world: World) -> None:
    order = await world.book(start=world.at(hour=10))
    world.clock.advance(timedelta(minutes=16))
    with pytest.raises(DomainError) as late:
        await world.bus.handle(c.PayOrder(actor_id=CUSTOMER, order_id=order.id))
    assert late.value.key == "error.order.payment_window_closed"
    await sweep(world)
    assert (await world.order(order.id)).state is OrderState.EXPIRED
    await world.book(customer=OTHER_CUSTOMER, start=world.at(hour=10))


async def test_a_sweep_interrupted_between_steps_and_rerun_after_a_restart_loses_and_doubles_nothing(
    world: World,
) -> None:
    ids = [(await world.booked_and_paid(start=world.at(hour=h), units=1)).id for h in (9, 11, 13)]
    world.clock.advance(timedelta(minutes=11))
    now = world.clock.now()
    # Step 1 of the sweep runs for the first order only, then the process dies.
    due = await world.bus.handle(c.DueOrders(now=now))
    assert due == ids
    await world.bus.handle(c.FireOrderTimers(order_id=due[0], now=now))
    # The second order's transaction crashes after the wallet moved its money.
    real_release = world.payments.release

    async def crash_after_release(*args: object, **kwargs: object) -> object:
        await real_release(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("killed")

    world.payments.release = crash_after_release  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await world.bus.handle(c.FireOrderTimers(order_id=due[1], now=now))
    world.payments.release = real_release  # type: ignore[method-assign]
    await world.runtime.close()
    # A fresh process (new engine, new bus) sweeps again.
    restarted = bootstrap(world.runtime.settings, clock=world.clock,
                          overrides={"directory": world.directory, "payments": world.payments})
    try:
        report = await sweep_due_orders(restarted.bus, now)
        assert report.orders == 2
        again = await sweep_due_orders(restarted.bus, now)
        assert again.orders == 0
        async with restarted.uow_factory() as uow:
            states = [(await uow.orders.get(i)).state for i in ids]
            events = [r.event.type_name() for r in await uow.outbox.claim_batch(10_000)]
    finally:
        await restarted.close()
    assert states == [OrderState.EXPIRED] * 3
    assert events.count("OrderExpired") == 3
    assert sorted(e[1] for e in world.payments.effects if e[0] == "void") == ids
    assert world.directory.strikes[PROVIDER] == 3


async def test_category_overrides_change_the_accept_window(world: World) -> None:
    policy = await world.bus.handle(c.SetCategoryPolicy(category_id=CATEGORY,
                                                        overrides={"accept_window": 30}))
    assert policy.accept_window == timedelta(minutes=30)
    with pytest.raises(DomainError) as bad:
        await world.bus.handle(c.SetCategoryPolicy(category_id=CATEGORY,
                                                   overrides={"accept_window": "soon"}))
    assert bad.value.key == "error.policy.invalid_value"
    order = await world.booked_and_paid()
    assert order.accept_deadline == world.clock.now() + timedelta(minutes=30)
