"""Booking against the real identity, catalog and wallet (no stand-ins): the production
wiring books against a provider's availability, holds real money in escrow, settles it, and
refunds it when nobody accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.bootstrap import Runtime
from core.booking import commands as c
from core.booking.states import OrderState
from core.booking.timers import sweep_due_orders
from core.catalog.commands import ApproveApplication, SetPresence
from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet.commands import VerifyLedger
from tests.integration.catalog.support import application, register, seeded

# FixedClock starts Monday 2026-01-05 09:00 UTC; the provider works Mondays 09:00-18:00
# Shanghai time (01:00-10:00 UTC), so next Monday 02:00 UTC is inside their hours.
NEXT_MONDAY_10_SHANGHAI = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)


async def provider_and_customer(runtime: Runtime) -> tuple[int, int, int, int]:
    categories = await seeded(runtime)
    lol = categories["league-of-legends"]
    provider = await register(runtime, "900", name="Xiaoyu")
    customer = await register(runtime, "901", name="Ann")
    submitted = await runtime.bus.handle(application(provider, lol, price=6000))
    await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    await runtime.bus.handle(SetPresence(actor_id=provider, provider_id=provider,
                                         presence="online"))
    async with runtime.uow_factory() as uow:
        [offer] = await uow.offers.for_provider(provider)
    return provider, customer, offer.id, lol.id


async def test_a_booking_is_paid_served_and_settled_through_the_real_wallet(runtime: Runtime) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    order = await runtime.bus.handle(c.BookOrder(actor_id=customer, offer_id=offer_id, units=2,
                                                 start=NEXT_MONDAY_10_SHANGHAI))
    assert order.price.total == Money(12000, "CNY")
    with pytest.raises(DomainError) as outside:
        await runtime.bus.handle(c.BookOrder(actor_id=customer, offer_id=offer_id, units=1,
                                             start=NEXT_MONDAY_10_SHANGHAI + timedelta(hours=9)))
    assert outside.value.key == "error.availability.outside_hours"
    await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=order.id, method="sandbox",
                                        payment_ref="sbx-1"))
    async with runtime.uow_factory() as uow:
        from core.wallet import api

        assert await api.order_held(uow, order.id) == Money(12000, "CNY")
    await runtime.bus.handle(c.AcceptOrder(actor_id=provider, order_id=order.id))
    runtime.clock.set(NEXT_MONDAY_10_SHANGHAI)  # type: ignore[attr-defined]
    await runtime.bus.handle(c.StartOrder(actor_id=provider, order_id=order.id))
    await runtime.bus.handle(c.FinishOrder(actor_id=provider, order_id=order.id))
    await runtime.bus.handle(c.ConfirmOrder(actor_id=customer, order_id=order.id))
    runtime.clock.advance(timedelta(hours=73))  # type: ignore[attr-defined]
    await sweep_due_orders(runtime.bus, runtime.clock.now())
    async with runtime.uow_factory() as uow:
        settled = await uow.orders.get(order.id)
        assert await api.order_held(uow, order.id) is None
        profile = await uow.providers.get(provider)
    assert settled.settled_at is not None
    assert profile.completion_rate == 1.0
    events = {e.type_name(): e for e in await _events(runtime)}
    assert events["OrderSettled"].platform_amount == Money(2400, "CNY")  # type: ignore[attr-defined]
    assert events["OrderSettled"].provider_amount == Money(9600, "CNY")  # type: ignore[attr-defined]
    await runtime.bus.handle(VerifyLedger())


async def test_an_unanswered_order_is_refunded_and_strikes_the_real_provider(runtime: Runtime) -> None:
    provider, customer, offer_id, _ = await provider_and_customer(runtime)
    order = await runtime.bus.handle(c.BookOrder(actor_id=customer, offer_id=offer_id, units=1,
                                                 start=NEXT_MONDAY_10_SHANGHAI))
    await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=order.id, method="sandbox",
                                        payment_ref="sbx-2"))
    runtime.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    report = await sweep_due_orders(runtime.bus, runtime.clock.now())
    assert (report.fired, report.failed) == (1, 0)
    async with runtime.uow_factory() as uow:
        from core.wallet import api

        assert (await uow.orders.get(order.id)).state is OrderState.EXPIRED
        assert await api.order_held(uow, order.id) is None
        assert (await uow.users.get(provider)).strikes == 1
    await runtime.bus.handle(VerifyLedger())


async def test_an_open_order_reaches_the_real_qualified_provider(runtime: Runtime) -> None:
    provider, customer, _, category_id = await provider_and_customer(runtime)
    order = await runtime.bus.handle(c.PublishOpenOrder(
        actor_id=customer, category_id=category_id, units=1, unit_price=Money(7000, "CNY")))
    await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=order.id, method="sandbox",
                                        payment_ref="sbx-3"))
    offered = [e for e in await _events(runtime) if e.type_name() == "OrderOffered"]
    assert offered and provider in offered[0].provider_ids  # type: ignore[attr-defined]
    won = await runtime.bus.handle(c.AcceptOrder(actor_id=provider, order_id=order.id))
    assert won.state is OrderState.IN_SERVICE and won.provider_id == provider


async def _events(runtime: Runtime) -> list:  # type: ignore[type-arg]
    async with runtime.uow_factory() as uow:
        return [r.event for r in await uow.outbox.claim_batch(10_000)]
