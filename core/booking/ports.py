"""What the booking area needs from storage, from the other areas, and from the wallet.

- Repositories (`uow.orders`, `uow.slots`, `uow.dispatch`, `uow.booking_policies`) are
  implemented in `storage/repositories/booking.py`.
- `Directory` is booking's view of identity and catalog: small frozen cards of the people,
  offers and categories an order needs, plus the few rules it asks them to apply. The
  production implementation (`core/booking/directory.py`) reads the identity and catalog
  repositories in the same unit of work; tests use an in-memory one.
- `Payments` is booking's view of the wallet; production delegates to `core.wallet.api`
  (`core/booking/payments.py`), every call in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.booking.model import Order, Place
from core.booking.states import OrderState
from core.shared.money import Money

# --- cards: what booking knows of other areas' things --------------------------------------


@dataclass(frozen=True)
class PersonCard:
    id: int
    display_name: str
    locale: str = "zh"
    timezone: str = "Asia/Shanghai"
    is_operator: bool = False


@dataclass(frozen=True)
class ProviderCard:
    id: int  # the provider's user id
    display_name: str
    tier: int = 1
    tags: frozenset[str] = frozenset()
    presence: str = "online"  # online, busy, offline, vacation
    place: Place | None = None
    service_radius_km: float | None = None
    venue_id: int | None = None
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class CategoryCard:
    id: int
    kind: str  # online_session, on_site, errand, venue_lesson
    pricing_unit: str  # hour, round, session, base_per_km
    min_units: int
    commission_bps: int
    active: bool = True


@dataclass(frozen=True)
class OfferCard:
    id: int
    provider_id: int
    category_id: int
    unit_price: Money
    min_units: int = 1
    active: bool = True


@dataclass(frozen=True)
class MatchRequest:
    category_id: int
    tags: frozenset[str]
    tier_min: int
    near: Place | None
    at: datetime | None


@dataclass(frozen=True)
class Split:
    provider: Money
    platform: Money
    venue: Money


class Directory(Protocol):
    """Booking's window on identity and catalog (all calls inside the caller's transaction)."""

    async def acting_user(self, uow: Any, user_id: int, now: datetime) -> PersonCard:
        """The user, refused if unknown or banned."""
        ...

    async def bookable_provider(self, uow: Any, provider_id: int) -> ProviderCard:
        """The provider, refused if suspended or on vacation (one read of them)."""
        ...
    async def category(self, uow: Any, category_id: int) -> CategoryCard:
        """The category; may be up to half a minute old (categories change rarely and every
        order command reads one)."""
        ...
    async def offer(self, uow: Any, offer_id: int) -> OfferCard: ...
    async def venue_share_bps(self, uow: Any, venue_id: int) -> int: ...
    async def check_slot(
        self, uow: Any, provider_id: int, start: datetime, end: datetime, now: datetime,
        busy: Sequence[tuple[datetime, datetime]],
    ) -> None:
        """Refuse a time outside availability, in the past, beyond the horizon, too soon."""
        ...
    async def is_blocked(self, uow: Any, user_a: int, user_b: int) -> bool: ...
    async def blocked_among(self, uow: Any, user_id: int, others: Sequence[int]) -> set[int]:
        """Those of `others` that block `user_id` or are blocked by them."""
        ...
    async def favourites(self, uow: Any, customer_id: int) -> set[int]: ...
    async def qualified(self, uow: Any, request: MatchRequest) -> list[int]:
        """Qualified providers for an open order, best ranked first."""
        ...
    async def record_strike(self, uow: Any, user_id: int, reason: str, at: datetime) -> int: ...
    async def suspend_provider(self, uow: Any, provider_id: int, reason: str, at: datetime) -> None: ...
    async def ban_user(self, uow: Any, user_id: int, reason: str, at: datetime) -> None: ...
    async def set_service_stats(
        self, uow: Any, provider_id: int, completion_rate: float, response_time_s: int
    ) -> None: ...


class Payments(Protocol):
    """Booking's window on the wallet. Idempotent per order; raises DomainError on refusal."""

    async def pay(self, uow: Any, *, order_id: int, customer_id: int, amount: Money,
                  method: str, payment_ref: str | None, at: datetime) -> None: ...
    async def held(self, uow: Any, order_id: int) -> Money | None: ...
    async def capture(self, uow: Any, *, order_id: int, provider_id: int, commission_bps: int,
                      venue_id: int | None, venue_share_bps: int, at: datetime) -> Split: ...
    async def release(self, uow: Any, *, order_id: int, refund: Money, provider_id: int | None,
                      commission_bps: int, venue_id: int | None, venue_share_bps: int,
                      refund_to: str, at: datetime) -> Split: ...
    async def tip(self, uow: Any, *, order_id: int, customer_id: int, provider_id: int,
                  amount: Money, method: str, payment_ref: str | None, at: datetime) -> None: ...


# --- repositories --------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilter:
    state: OrderState | None = None
    customer_id: int | None = None
    provider_id: int | None = None
    disputed: bool | None = None  # only orders that have (or never had) a dispute
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class ProviderRecord:
    """Counts over a provider's finished orders, for completion rate and response time."""

    accepted: int
    completed: int
    failed: int  # expired on them, cancelled by them, or they did not show
    mean_response_s: int


class OrderRepository(Protocol):
    async def add(self, order: Order) -> Order:
        """Give a draft its id and human number; its first `save` stores it (so slot cells
        and anything else that refers to the order's row come after that save)."""
        ...
    async def get(self, order_id: int, *, for_update: bool = False) -> Order:
        """The order (NotFound "error.order.not_found"); `for_update` locks its row until
        the transaction ends (where the database has row locks)."""
        ...
    async def get_by_number(self, number: str) -> Order: ...
    async def lock_due(self, order_id: int, now: datetime) -> Order | None:
        """The order if a timer of it is due and nobody else is working on it (else None)."""
        ...
    async def save(self, order: Order) -> None:
        """Version-checked save (ConcurrencyConflict when somebody saved first); the first
        save of an added order inserts it."""
        ...
    async def due_ids(self, now: datetime, limit: int) -> list[int]: ...
    async def busy_intervals(
        self, provider_id: int, start: datetime, end: datetime,
        exclude_order_id: int | None = None,
    ) -> list[tuple[datetime, datetime]]:
        """Scheduled ranges of the provider's active orders that meet [start, end)."""
        ...
    async def list(self, query: OrderFilter) -> list[Order]: ...
    async def provider_record(self, provider_id: int) -> ProviderRecord: ...


class SlotReservations(Protocol):
    async def reserve(self, provider_id: int, order_id: int, cells: Sequence[datetime]) -> None:
        """Reserve every cell or none: raise DomainError("error.booking.slot_gone")."""
        ...
    async def release(self, order_id: int) -> None: ...
    async def of_order(self, order_id: int) -> list[datetime]: ...


class DispatchLog(Protocol):
    async def offer(self, order_id: int, provider_ids: Sequence[int], wave: int,
                    at: datetime) -> tuple[int, ...]:
        """Record offers; returns the providers not offered this order before."""
        ...
    async def offered(self, order_id: int) -> tuple[int, ...]: ...
    async def was_offered(self, order_id: int, provider_id: int) -> bool: ...


class PolicyStore(Protocol):
    async def overrides(self, category_id: int) -> dict[str, Any]:
        """The category's overrides (those of an order's category come with the order)."""
        ...
    async def set_overrides(self, category_id: int, overrides: dict[str, Any],
                            at: datetime) -> None: ...
