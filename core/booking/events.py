"""Events of the order lifecycle, consumed by other areas (reviews, wallet, relay, bots)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.messages import Event


@dataclass(frozen=True, kw_only=True)
class OrderCompleted(Event):
    """The customer confirmed (or the order auto-completed); money has been released."""

    order_id: int
    order_number: str
    customer_id: int
    provider_id: int
    category_id: int
    completed_at: datetime
