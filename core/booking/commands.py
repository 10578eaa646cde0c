"""Commands (and read queries) of the booking area. `actor_id` is the person acting;
an operator command from the admin CLI carries no actor (the CLI runs with server access)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.booking.model import Place
from core.booking.states import OrderState
from core.shared.messages import Command, Query
from core.shared.money import Money


@dataclass(frozen=True, kw_only=True)
class BookOrder(Command):
    """Direct booking: a provider's offer, a number of units, a slot (or now, if instant)."""

    offer_id: int
    units: int
    start: datetime | None = None  # None: an instant order ("play now")
    address: str | None = None
    place: Place | None = None
    notes: str = ""


@dataclass(frozen=True, kw_only=True)
class PublishOpenOrder(Command):
    """An open request: qualified providers get it in waves, first accept wins."""

    category_id: int
    units: int
    unit_price: Money  # the customer's budget per unit
    start: datetime | None = None
    tags: frozenset[str] = frozenset()
    tier_min: int = 1
    address: str | None = None
    place: Place | None = None
    notes: str = ""


@dataclass(frozen=True, kw_only=True)
class PayOrder(Command):
    order_id: int
    method: str = "wallet"  # or a gateway: sandbox, telegram_stars, wechat_pay, ...
    payment_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class AcceptOrder(Command):
    order_id: int


@dataclass(frozen=True, kw_only=True)
class RejectOrder(Command):
    order_id: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class CancelOrder(Command):
    order_id: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class OperatorCancelOrder(Command):
    """An operator ends an order; `fee_bps` of what is held goes to the provider side."""

    order_id: int
    reason: str
    fee_bps: int = 0


@dataclass(frozen=True, kw_only=True)
class ReassignOrder(Command):
    order_id: int
    provider_id: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ProposeReschedule(Command):
    order_id: int
    new_start: datetime


@dataclass(frozen=True, kw_only=True)
class AnswerReschedule(Command):
    order_id: int
    agree: bool


@dataclass(frozen=True, kw_only=True)
class RaiseOpenOrderPrice(Command):
    order_id: int
    unit_price: Money | None = None
    bonus: Money | None = None
    method: str = "wallet"
    payment_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class StartOrder(Command):
    order_id: int
    location: Place | None = None
    photo: str | None = None  # a channel file reference


@dataclass(frozen=True, kw_only=True)
class ExtendOrder(Command):
    order_id: int
    extra_units: int
    method: str = "wallet"
    payment_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class FinishOrder(Command):
    order_id: int
    proof: str | None = None
    delivery_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConfirmOrder(Command):
    order_id: int


@dataclass(frozen=True, kw_only=True)
class MarkNoShow(Command):
    order_id: int


@dataclass(frozen=True, kw_only=True)
class TipOrder(Command):
    order_id: int
    amount: Money
    method: str = "wallet"
    payment_ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class OpenDispute(Command):
    order_id: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class RespondToDispute(Command):
    order_id: int
    response: str


@dataclass(frozen=True, kw_only=True)
class ResolveDispute(Command):
    order_id: int
    outcome: str  # release | refund | partial
    refund_bps: int | None = None
    refund_amount: Money | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class SetCategoryPolicy(Command):
    """Override booking policy fields for one category (durations in minutes)."""

    category_id: int
    overrides: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FireOrderTimers(Command):
    """Apply whatever timers of one order are due at `now` (issued by the sweeper)."""

    order_id: int
    now: datetime


# --- read queries --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DueOrders(Command):
    now: datetime
    limit: int = 200


@dataclass(frozen=True, kw_only=True)
class GetOrder(Query):
    """An order and its history. With `actor_id`, only its parties and operators may read it."""

    order_id: int | None = None
    number: str | None = None


@dataclass(frozen=True, kw_only=True)
class ListOrders(Query):
    """With `actor_id`, a person may list only their own orders (filter on themselves)."""

    state: OrderState | None = None
    customer_id: int | None = None
    provider_id: int | None = None
    disputed: bool | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, kw_only=True)
class ListBusyIntervals(Query):
    """The (start, end) of a provider's orders that hold their calendar (active ones) and
    overlap [start, end), earliest first: what a slot picker leaves out."""

    provider_id: int
    start: datetime
    end: datetime
    exclude_order_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class GetCategoryPolicy(Query):
    category_id: int
