"""What the customer screens read, composed from the core's queries and rules.

Some answers a screen needs are not a single query of the core: which starts of a provider's
calendar are still free (the catalog's availability minus the booking area's active
orders), and what cancelling an order would cost right now (the booking policy's fee tiers
applied to what is held). These functions ask the core's read queries and apply the core's
own rules (`free_slots`, `BookingPolicy.cancellation_fee`), so the numbers shown are the
numbers the command will use; the command checks again when it runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from bots.telegram.calendar import bookable_starts
from core.booking.commands import GetCategoryPolicy, ListOrders
from core.booking.model import Order, Party
from core.booking.policy import BookingPolicy
from core.booking.states import ACTIVE, OrderState
from core.catalog.availability import Interval
from core.catalog.commands import GetProvider, ListCategories
from core.catalog.handlers import ProviderDetails
from core.catalog.model import Category, Offer
from core.messagebus import MessageBus
from core.shared.errors import NotFound
from core.shared.money import Money

# The catalog's categories change when an operator edits them, a few times a year; browsing
# reads them on nearly every tap. Each bus keeps the active ones for this long.
CATEGORIES_TTL_SECONDS = 30.0
_categories: WeakKeyDictionary[MessageBus, tuple[float, dict[int, Category]]] = WeakKeyDictionary()


async def categories(bus: MessageBus) -> dict[int, Category]:
    """The active categories by id (read again at most every `CATEGORIES_TTL_SECONDS`)."""
    now = time.monotonic()
    cached = _categories.get(bus)
    if cached is None or cached[0] <= now:
        listed = await bus.handle(ListCategories(include_inactive=False))
        cached = (now + CATEGORIES_TTL_SECONDS, {category.id: category for category in listed})
        _categories[bus] = cached
    return dict(cached[1])


async def provider(bus: MessageBus, provider_id: int) -> ProviderDetails:
    details: ProviderDetails = await bus.handle(GetProvider(provider_id=provider_id))
    return details


def offer_of(details: ProviderDetails, offer_id: int) -> Offer:
    for offer in details.offers:
        if offer.id == offer_id and offer.active:
            return offer
    raise NotFound("error.offer.not_found", offer_id=offer_id)


async def busy_intervals(
    bus: MessageBus, provider_id: int, *, exclude_order_id: int | None = None
) -> list[Interval]:
    """The scheduled time of the provider's orders that still hold their calendar."""
    busy: list[Interval] = []
    for state in sorted(ACTIVE):
        orders = await bus.handle(ListOrders(provider_id=provider_id, state=state, limit=500))
        busy.extend(
            (o.scheduled_start, o.scheduled_end)
            for o in orders
            if o.id != exclude_order_id and o.scheduled_start and o.scheduled_end
        )
    return busy


async def free_starts(
    bus: MessageBus,
    details: ProviderDetails,
    duration: timedelta,
    zone: ZoneInfo,
    first: date,
    last: date,
    *,
    exclude_order_id: int | None = None,
) -> dict[date, list[datetime]]:
    """Customer-local day -> bookable UTC starts for a booking of `duration`."""
    busy = await busy_intervals(bus, details.profile.user_id, exclude_order_id=exclude_order_id)
    return bookable_starts(details.schedule, busy, bus.clock.now(), duration, zone, first, last)


@dataclass(frozen=True)
class CancellationQuote:
    fee: Money
    refund: Money
    fee_bps: int


async def cancellation_quote(bus: MessageBus, order: Order, party: Party) -> CancellationQuote:
    """What cancelling now keeps and returns, as `CancelOrder` will compute it.

    Every hold on an order (payment, extensions, raises) adds to `price.deposit`, so while
    the order is paid that is what escrow holds. A customer pays the fee tier only once the
    provider accepted; a provider never pays one (they get a strike instead).
    """
    currency = order.price.currency
    zero = Money.zero(currency)
    paid = order.state in (OrderState.PENDING_ACCEPTANCE, OrderState.ACCEPTED)
    held = order.price.deposit if paid else zero
    if party is not Party.CUSTOMER or order.state is not OrderState.ACCEPTED:
        return CancellationQuote(zero, held, 0)
    policy: BookingPolicy = await bus.handle(GetCategoryPolicy(category_id=order.category_id))
    now = bus.clock.now()
    fee = policy.cancellation_fee(held, order.scheduled_start, now)
    return CancellationQuote(fee, held - fee, policy.cancellation_fee_bps(order.scheduled_start, now))
