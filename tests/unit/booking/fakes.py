"""In-memory stand-ins for booking's ports to identity, catalog and the wallet.

`FakeDirectory` keeps people, providers, offers and categories in dicts and applies the same
refusal keys the real areas use; `FakePayments` is an idempotent escrow per order, like the
wallet's deterministic transfer ids make the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any

from core.booking.ports import (
    CategoryCard,
    MatchRequest,
    OfferCard,
    PersonCard,
    ProviderCard,
    Split,
)
from core.shared.errors import DomainError, NotFound
from core.shared.money import Money


@dataclass
class FakeDirectory:
    people: dict[int, PersonCard] = field(default_factory=dict)
    banned: set[int] = field(default_factory=set)
    providers: dict[int, ProviderCard] = field(default_factory=dict)
    suspended: set[int] = field(default_factory=set)
    categories: dict[int, CategoryCard] = field(default_factory=dict)
    offers: dict[int, OfferCard] = field(default_factory=dict)
    venues: dict[int, int] = field(default_factory=dict)
    blocks: set[tuple[int, int]] = field(default_factory=set)
    favourite: dict[int, set[int]] = field(default_factory=dict)
    strikes: dict[int, int] = field(default_factory=dict)
    stats: dict[int, tuple[float, int]] = field(default_factory=dict)
    # Working hours every provider keeps (UTC), notice and horizon, like a catalog schedule.
    opens: time = time(8, 0)
    closes: time = time(22, 0)
    min_notice: timedelta = timedelta(hours=1)
    horizon: timedelta = timedelta(days=30)

    # --- seeding ---------------------------------------------------------------------------

    def add_person(self, user_id: int, *, operator: bool = False) -> PersonCard:
        card = PersonCard(id=user_id, display_name=f"user{user_id}", is_operator=operator)
        self.people[user_id] = card
        return card

    def add_category(self, category_id: int, kind: str = "online_session", *,
                 pricing_unit: str = "hour", min_units: int = 1,
                 commission_bps: int = 2000) -> CategoryCard:
        card = CategoryCard(category_id, kind, pricing_unit, min_units, commission_bps)
        self.categories[category_id] = card
        return card

    def add_provider(self, user_id: int, *, offer_id: int | None = None, category_id: int = 1,
                 price: Money = Money(5000, "CNY"), tier: int = 1, presence: str = "online",
                 venue_id: int | None = None, tags: frozenset[str] = frozenset()) -> ProviderCard:
        self.add_person(user_id)
        card = ProviderCard(id=user_id, display_name=f"p{user_id}", tier=tier, tags=tags,
                            presence=presence, venue_id=venue_id)
        self.providers[user_id] = card
        if offer_id is not None:
            self.offers[offer_id] = OfferCard(offer_id, user_id, category_id, price)
        return card

    def set_presence(self, user_id: int, presence: str) -> None:
        self.providers[user_id] = replace(self.providers[user_id], presence=presence)

    # --- the Directory port ----------------------------------------------------------------

    async def acting_user(self, uow: Any, user_id: int, now: datetime) -> PersonCard:
        if user_id not in self.people:
            raise NotFound("error.user.not_found", user_id=user_id)
        if user_id in self.banned:
            raise DomainError("error.user.banned", user_id=user_id, reason="", until=None)
        return self.people[user_id]

    async def provider(self, uow: Any, provider_id: int) -> ProviderCard:
        if provider_id not in self.providers:
            raise NotFound("error.provider.not_found", provider_id=provider_id)
        return self.providers[provider_id]

    async def bookable_provider(self, uow: Any, provider_id: int) -> ProviderCard:
        card = await self.provider(uow, provider_id)
        if provider_id in self.suspended:
            raise DomainError("error.provider.suspended", provider_id=provider_id)
        if card.presence == "vacation":
            raise DomainError("error.provider.on_vacation", provider_id=provider_id)
        return card

    async def category(self, uow: Any, category_id: int) -> CategoryCard:
        if category_id not in self.categories:
            raise NotFound("error.category.not_found", category_id=category_id)
        return self.categories[category_id]

    async def offer(self, uow: Any, offer_id: int) -> OfferCard:
        if offer_id not in self.offers:
            raise NotFound("error.offer.not_found", offer_id=offer_id)
        return self.offers[offer_id]

    async def venue_share_bps(self, uow: Any, venue_id: int) -> int:
        return self.venues[venue_id]

    async def check_slot(self, uow: Any, provider_id: int, start: datetime, end: datetime,
                         now: datetime, busy: Sequence[tuple[datetime, datetime]]) -> None:
        if start < now:
            raise DomainError("error.availability.in_past")
        if start < now + self.min_notice:
            raise DomainError("error.availability.too_little_notice", minutes=60)
        if start > now + self.horizon:
            raise DomainError("error.availability.beyond_horizon", days=30)
        if not (self.opens <= start.time() and end.time() <= self.closes
                and start.date() == end.date()):
            raise DomainError("error.availability.outside_hours")
        if any(s < end and start < e for s, e in busy):
            raise DomainError("error.availability.busy", buffer_minutes=0)

    async def is_blocked(self, uow: Any, user_a: int, user_b: int) -> bool:
        return (user_a, user_b) in self.blocks or (user_b, user_a) in self.blocks

    async def blocked_among(self, uow: Any, user_id: int, others: Sequence[int]) -> set[int]:
        return {o for o in others if await self.is_blocked(uow, user_id, o)}

    async def favourites(self, uow: Any, customer_id: int) -> set[int]:
        return set(self.favourite.get(customer_id, set()))

    async def qualified(self, uow: Any, request: MatchRequest) -> list[int]:
        in_category = {o.provider_id for o in self.offers.values()
                       if o.category_id == request.category_id and o.active}
        return [
            p.id for p in self.providers.values()
            if p.id in in_category and p.id not in self.suspended and p.tier >= request.tier_min
            and request.tags <= p.tags and p.presence != "vacation"
        ]

    async def record_strike(self, uow: Any, user_id: int, reason: str, at: datetime) -> int:
        self.strikes[user_id] = self.strikes.get(user_id, 0) + 1
        return self.strikes[user_id]

    async def suspend_provider(self, uow: Any, provider_id: int, reason: str, at: datetime) -> None:
        self.suspended.add(provider_id)

    async def ban_user(self, uow: Any, user_id: int, reason: str, at: datetime) -> None:
        self.banned.add(user_id)

    async def set_service_stats(self, uow: Any, provider_id: int, completion_rate: float,
                                response_time_s: int) -> None:
        self.stats[provider_id] = (completion_rate, response_time_s)


@dataclass
class Escrow:
    holds: dict[str | None, Money] = field(default_factory=dict)
    outcome: tuple[str, Money, Split] | None = None

    @property
    def total(self) -> Money:
        amounts = list(self.holds.values())
        result = amounts[0]
        for amount in amounts[1:]:
            result = result + amount
        return result


@dataclass
class FakePayments:
    """Escrow per order. Each effect is keyed like the wallet's transfer ids, so a repeated
    call returns the first result and `effects` lists what really moved."""

    escrows: dict[int, Escrow] = field(default_factory=dict)
    effects: list[tuple[str, int, int]] = field(default_factory=list)
    tips: list[tuple[int, Money]] = field(default_factory=list)
    refuse_methods: set[str] = field(default_factory=set)

    async def pay(self, uow: Any, *, order_id: int, customer_id: int, amount: Money,
                  method: str, payment_ref: str | None, at: datetime) -> None:
        if method in self.refuse_methods:
            raise DomainError("error.wallet.insufficient_funds", needed=amount)
        escrow = self.escrows.setdefault(order_id, Escrow())
        if escrow.outcome is not None:
            raise DomainError("error.wallet.hold_resolved", order_id=order_id)
        if payment_ref not in escrow.holds:
            escrow.holds[payment_ref] = amount
            self.effects.append(("hold", order_id, amount.amount))

    async def held(self, uow: Any, order_id: int) -> Money | None:
        escrow = self.escrows.get(order_id)
        if escrow is None or escrow.outcome is not None or not escrow.holds:
            return None
        return escrow.total

    def _split(self, amount: Money, commission_bps: int, venue_share_bps: int) -> Split:
        platform = amount.share_bps(commission_bps)
        venue = (amount - platform).share_bps(venue_share_bps)
        return Split(amount - platform - venue, platform, venue)

    async def capture(self, uow: Any, *, order_id: int, provider_id: int, commission_bps: int,
                      venue_id: int | None, venue_share_bps: int, at: datetime) -> Split:
        escrow = self.escrows[order_id]
        if escrow.outcome is not None:
            return escrow.outcome[2]
        split = self._split(escrow.total, commission_bps, venue_share_bps)
        escrow.outcome = ("capture", Money.zero(escrow.total.currency), split)
        self.effects.append(("capture", order_id, escrow.total.amount))
        return split

    async def release(self, uow: Any, *, order_id: int, refund: Money, provider_id: int | None,
                      commission_bps: int, venue_id: int | None, venue_share_bps: int,
                      refund_to: str, at: datetime) -> Split:
        escrow = self.escrows[order_id]
        if escrow.outcome is not None:
            return escrow.outcome[2]
        if refund.amount < 0 or escrow.total < refund:
            raise DomainError("error.wallet.invalid_refund")
        kept = escrow.total - refund
        if kept.is_positive() and provider_id is None:
            raise DomainError("error.wallet.fee_needs_provider")
        split = self._split(kept, commission_bps, venue_share_bps)
        kind = "release" if kept.is_positive() else "void"
        escrow.outcome = (kind, refund, split)
        self.effects.append((kind, order_id, refund.amount))
        return split

    async def tip(self, uow: Any, *, order_id: int, customer_id: int, provider_id: int,
                  amount: Money, method: str, payment_ref: str | None, at: datetime) -> None:
        self.tips.append((order_id, amount))

    def outcome(self, order_id: int) -> tuple[str, Money, Split] | None:
        escrow = self.escrows.get(order_id)
        return escrow.outcome if escrow else None
