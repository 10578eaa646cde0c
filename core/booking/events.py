"""Events of the order lifecycle, consumed by other areas (reviews, wallet, relay, bots).

Every event names the order (id and human number) and both parties, so a consumer never has
to read the order back to know whom to tell. Times are aware UTC; each chat adapter shows
them in the recipient's own time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.messages import Event
from core.shared.money import Money


@dataclass(frozen=True, kw_only=True)
class OrderEvent(Event):
    order_id: int
    order_number: str
    customer_id: int
    provider_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class OrderCompleted(Event):
    """The customer confirmed (or the order auto-completed).

    The money stays in escrow until the dispute window closes (`OrderSettled`).
    """

    order_id: int
    order_number: str
    customer_id: int
    provider_id: int
    category_id: int
    completed_at: datetime


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(OrderEvent):
    category_id: int
    dispatch: str
    instant: bool
    total: Money
    scheduled_start: datetime | None
    payment_deadline: datetime | None


@dataclass(frozen=True, kw_only=True)
class OrderPaid(OrderEvent):
    """Money is held; a direct order now waits for its provider (who gets accept/reject)."""

    dispatch: str
    amount: Money
    total: Money
    instant: bool
    scheduled_start: datetime | None
    accept_deadline: datetime | None


@dataclass(frozen=True, kw_only=True)
class OrderOffered(OrderEvent):
    """An open order was offered to these providers (one dispatch wave)."""

    provider_ids: tuple[int, ...]
    wave: int
    category_id: int
    unit_price: Money
    units: int
    total: Money
    scheduled_start: datetime | None
    accept_deadline: datetime | None


@dataclass(frozen=True, kw_only=True)
class OrderAccepted(OrderEvent):
    dispatch: str
    scheduled_start: datetime | None
    started: bool  # an instant order is in service from the moment it is accepted
    service_kind: str | None = None  # the order's kind (None in events stored before it was)


@dataclass(frozen=True, kw_only=True)
class OpenOrderTaken(OrderEvent):
    """First accept won: every other offered provider's card should read "taken"."""

    other_provider_ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class OrderRejected(OrderEvent):
    reason: str
    refund: Money | None
    alternatives: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class OrderExpired(OrderEvent):
    """Nobody accepted (or the customer never paid) in time; the money went back in full."""

    refund: Money | None
    alternatives: tuple[int, ...]
    other_provider_ids: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(OrderEvent):
    by: str  # "customer" | "provider" | "operator"
    reason: str
    fee: Money | None
    refund: Money | None
    other_provider_ids: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class OrderNoShow(OrderEvent):
    absent: str  # "customer" | "provider"
    fee: Money | None
    refund: Money | None


@dataclass(frozen=True, kw_only=True)
class RescheduleProposed(OrderEvent):
    proposed_by: int
    old_start: datetime | None
    new_start: datetime


@dataclass(frozen=True, kw_only=True)
class RescheduleAnswered(OrderEvent):
    answered_by: int
    agreed: bool
    old_start: datetime | None
    new_start: datetime


@dataclass(frozen=True, kw_only=True)
class OrderReassigned(OrderEvent):
    previous_provider_id: int | None
    accept_deadline: datetime | None
    scheduled_start: datetime | None


@dataclass(frozen=True, kw_only=True)
class OpenOrderPriceRaised(OrderEvent):
    unit_price: Money
    bonus: Money
    total: Money
    provider_ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class OrderStarted(OrderEvent):
    started_at: datetime
    checkin: str | None  # "location" | "photo" | None


@dataclass(frozen=True, kw_only=True)
class OrderExtended(OrderEvent):
    extra_units: int
    extra_amount: Money
    total: Money
    scheduled_end: datetime | None


@dataclass(frozen=True, kw_only=True)
class OrderDelivered(OrderEvent):
    delivered_at: datetime
    auto_complete_at: datetime | None
    has_proof: bool


@dataclass(frozen=True, kw_only=True)
class OrderSettled(OrderEvent):
    """The dispute window closed: escrow was split to the provider, platform (and hall)."""

    provider_amount: Money
    platform_amount: Money
    venue_amount: Money


@dataclass(frozen=True, kw_only=True)
class OrderReminder(OrderEvent):
    scheduled_start: datetime
    minutes_before: int


@dataclass(frozen=True, kw_only=True)
class OrderTipped(OrderEvent):
    amount: Money


@dataclass(frozen=True, kw_only=True)
class DisputeOpened(OrderEvent):
    dispute_id: int
    opened_by: int
    reason: str
    respond_by: datetime


@dataclass(frozen=True, kw_only=True)
class DisputeAnswered(OrderEvent):
    dispute_id: int
    answered_by: int
    response: str


@dataclass(frozen=True, kw_only=True)
class DisputeResolved(OrderEvent):
    dispute_id: int
    outcome: str
    refund: Money | None
    by_default: bool  # the response window ran out and the configured outcome applied


@dataclass(frozen=True, kw_only=True)
class ProviderAutoSuspended(Event):
    provider_id: int
    strikes: int
    reason: str
