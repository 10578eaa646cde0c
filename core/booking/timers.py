"""Sweeping due order timers: find due orders, then fire each in its own transaction.

Correctness never depends on the sweeper's memory: every deadline is a column, firing one
clears it in the same transaction as its effect, and `FireOrderTimers` locks the row (or
skips it when another sweeper holds it). So two sweepers racing, or a sweep killed half-way
and run again after a restart, apply every effect exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from core.booking.commands import DueOrders, FireOrderTimers
from core.messagebus import MessageBus
from core.shared.errors import DomainError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepReport:
    orders: int  # due orders looked at
    fired: int  # timers applied
    failed: int  # orders whose timers were refused (left due, retried next sweep)


async def sweep_due_orders(bus: MessageBus, now: datetime, batch: int = 200) -> SweepReport:
    due: list[int] = await bus.handle(DueOrders(now=now, limit=batch))
    fired = failed = 0
    for order_id in due:
        try:
            applied: list[str] = await bus.handle(FireOrderTimers(order_id=order_id, now=now))
        except DomainError as error:
            failed += 1
            log.warning("timers of order %s refused: %s", order_id, error)
            continue
        fired += len(applied)
    return SweepReport(orders=len(due), fired=fired, failed=failed)
