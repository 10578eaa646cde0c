"""A small driver for wallet integration tests: money in, api calls in one transaction, looks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.bootstrap import Runtime
from core.shared.money import Money
from core.wallet import api
from core.wallet import commands as c
from core.wallet.gateways import SandboxGateway
from core.wallet.views import UserBalance


class WalletDriver:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.bus = runtime.bus

    @property
    def sandbox(self) -> SandboxGateway:
        gateway: SandboxGateway = self.bus.dependencies["payment_gateways"].get("sandbox")
        return gateway

    async def top_up(self, customer_id: int, amount: int, currency: str = "CNY") -> str:
        intent = await self.bus.handle(c.StartPayment(
            customer_id=customer_id, gateway="sandbox", amount=Money(amount, currency)))
        outcome = await self.bus.handle(c.ConfirmPayment(
            gateway="sandbox", payment_ref=intent.payment_ref, amount=amount, currency=currency))
        assert outcome.status == "credited"
        return str(intent.payment_ref)

    async def call(self, fn: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        """One wallet api call in its own committed transaction, as booking would make it."""
        async with self.runtime.uow_factory() as uow:
            result = await fn(uow, at=self.runtime.clock.now(), **kwargs)
            await uow.commit()
        await self.bus._publish(uow.committed_events())
        return result

    async def pay(self, order_id: int, customer_id: int, amount: int, *, method: str = "wallet",
                  payment_ref: str | None = None, currency: str = "CNY", coupon: int | None = None) -> None:
        await self.call(api.pay_order, order_id=order_id, customer_id=customer_id,
                        amount=Money(amount, currency), method=method, payment_ref=payment_ref,
                        coupon=Money(coupon, currency) if coupon else None)

    async def capture(self, order_id: int, provider_id: int = 500, commission_bps: int = 2_000,
                      venue_id: int | None = None, venue_share_bps: int = 0) -> api.Split:
        split: api.Split = await self.call(
            api.capture_order, order_id=order_id, provider_id=provider_id,
            commission_bps=commission_bps, venue_id=venue_id, venue_share_bps=venue_share_bps)
        return split

    async def release(self, order_id: int, refund: int, *, provider_id: int | None = 500,
                      refund_to: str = "wallet", currency: str = "CNY",
                      commission_bps: int = 2_000) -> api.Split:
        split: api.Split = await self.call(
            api.release_order, order_id=order_id, refund=Money(refund, currency),
            provider_id=provider_id, commission_bps=commission_bps, venue_id=None,
            venue_share_bps=0, refund_to=refund_to)
        return split

    async def held(self, order_id: int) -> Money | None:
        async with self.runtime.uow_factory() as uow:
            return await api.order_held(uow, order_id)

    async def balance(self, user_id: int, currency: str = "CNY") -> UserBalance:
        statement = await self.bus.handle(c.GetStatement(user_id=user_id, currency=currency))
        if not statement.balances:
            zero = Money(0, currency)
            return UserBalance(currency, zero, zero, zero, zero, zero, zero)
        return statement.balances[0]

    async def assert_balanced(self) -> None:
        report = await self.bus.handle(c.VerifyLedger())
        assert report.ok, report.discrepancies

    async def outbox_names(self) -> list[str]:
        async with self.runtime.uow_factory() as uow:
            return [r.event.type_name() for r in await uow.outbox.claim_batch(1000)]


@pytest.fixture
def wallet(runtime: Runtime) -> WalletDriver:
    return WalletDriver(runtime)
