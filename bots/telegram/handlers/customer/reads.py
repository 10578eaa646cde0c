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
from datetime import time as dtime
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from bots.telegram.calendar import bookable_starts
from core.booking.commands import GetCategoryPolicy, ListBusyIntervals
from core.booking.model import Order, Party
from core.booking.policy import BookingPolicy
from core.booking.states import OrderState
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


# The booking steps after a provider's card (offer, units, month, day, start) each need the
# provider's offers and weekly schedule; reading them once per booking rather than once per
# tap is enough, since `BookOrder` checks the offer and the slot against fresh rows anyway.
BOOKING_READ_SECONDS = 30.0
MAX_REMEMBERED_PROVIDERS = 10_000
_providers: WeakKeyDictionary[MessageBus, dict[int, tuple[float, ProviderDetails]]] = (
    WeakKeyDictionary()
)


async def provider(
    bus: MessageBus, provider_id: int, *, max_age: float = 0.0, viewer_id: int | None = None
) -> ProviderDetails:
    """The provider's profile, offers and schedule (and with `viewer_id`, whether they saved
    the provider: only a fresh read says so); with `max_age`, a read at most that many seconds
    old will do (every read is remembered for the booking steps)."""
    now = time.monotonic()
    remembered = _providers.get(bus)
    if remembered is None:
        remembered = _providers[bus] = {}
    if max_age > 0:
        cached = remembered.get(provider_id)
        if cached is not None and now - cached[0] <= max_age:
            return cached[1]
    details: ProviderDetails = await bus.handle(
        GetProvider(provider_id=provider_id, viewer_id=viewer_id)
    )
    if len(remembered) >= MAX_REMEMBERED_PROVIDERS:
        remembered.clear()
    remembered[provider_id] = (now, details)
    return details


def offer_of(details: ProviderDetails, offer_id: int) -> Offer:
    for offer in details.offers:
        if offer.id == offer_id and offer.active:
            return offer
    raise NotFound("error.offer.not_found", offer_id=offer_id)


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
    # The provider's active orders around the days shown (a day either side covers any zone
    # and a booking running past midnight), in one read.
    busy: list[Interval] = await bus.handle(ListBusyIntervals(
        provider_id=details.profile.user_id,
        start=datetime.combine(first, dtime.min, zone) - timedelta(days=1),
        end=datetime.combine(last, dtime.min, zone) + timedelta(days=2) + duration,
        exclude_order_id=exclude_order_id,
    ))
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
