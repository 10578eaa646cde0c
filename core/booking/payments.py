"""The production `Payments`: booking's calls into the wallet's face, `core.wallet.api`.

Every call runs in the caller's unit of work, so an order change and its money move commit
or roll back together; the wallet makes each call idempotent by deterministic transfer ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.booking.ports import Split
from core.shared.money import Money
from core.wallet import api


class WalletPayments:
    async def pay(self, uow: Any, *, order_id: int, customer_id: int, amount: Money,
                  method: str, payment_ref: str | None, at: datetime) -> None:
        await api.pay_order(uow, order_id=order_id, customer_id=customer_id, amount=amount,
                               method=method, payment_ref=payment_ref, at=at)

    async def held(self, uow: Any, order_id: int) -> Money | None:
        held: Money | None = await api.order_held(uow, order_id)
        return held

    async def capture(self, uow: Any, *, order_id: int, provider_id: int, commission_bps: int,
                      venue_id: int | None, venue_share_bps: int, at: datetime) -> Split:
        split = await api.capture_order(
            uow, order_id=order_id, provider_id=provider_id, commission_bps=commission_bps,
            venue_id=venue_id, venue_share_bps=venue_share_bps, at=at,
        )
        return Split(split.provider, split.platform, split.venue)

    async def release(self, uow: Any, *, order_id: int, refund: Money, provider_id: int | None,
                      commission_bps: int, venue_id: int | None, venue_share_bps: int,
                      refund_to: str, at: datetime) -> Split:
        split = await api.release_order(
            uow, order_id=order_id, refund=refund, provider_id=provider_id,
            commission_bps=commission_bps, venue_id=venue_id, venue_share_bps=venue_share_bps,
            refund_to=refund_to, at=at,
        )
        return Split(split.provider, split.platform, split.venue)

    async def tip(self, uow: Any, *, order_id: int, customer_id: int, provider_id: int,
                  amount: Money, method: str, payment_ref: str | None, at: datetime) -> None:
        await api.tip_order(uow, order_id=order_id, customer_id=customer_id,
                               provider_id=provider_id, amount=amount, method=method,
                               payment_ref=payment_ref, at=at)
