"""What a provider search asks for and what it answers (the ranking is in `ranking.py`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from core.catalog.model import MAX_TIER, GeoPoint, Presence, normalize_tags
from core.shared.errors import DomainError
from core.shared.money import Money

MAX_PAGE_SIZE = 100
MAX_RADIUS_KM = 200.0
DEFAULT_RADIUS_KM = 10.0


@dataclass(frozen=True, kw_only=True)
class SearchCriteria:
    category_id: int | None = None  # this category and every category below it
    price_min: Money | None = None  # unit price of the provider's cheapest matching offer
    price_max: Money | None = None
    min_rating: float | None = None  # plain average of the provider's ratings, 0..5
    tier_min: int | None = None
    tags: frozenset[str] = frozenset()  # all of them
    online_now: bool = False
    # Within the provider's weekly hours and not on a blocked date at this instant; the
    # booking area passes providers already booked then in `exclude_provider_ids`.
    free_at: datetime | None = None
    near: GeoPoint | None = None
    radius_km: float = DEFAULT_RADIUS_KM
    exclude_provider_ids: frozenset[int] = frozenset()
    page: int = 1
    size: int = 20

    def validated(self) -> SearchCriteria:
        if self.page < 1 or not 1 <= self.size <= MAX_PAGE_SIZE:
            raise DomainError("error.search.invalid_page", maximum=MAX_PAGE_SIZE)
        prices = [p for p in (self.price_min, self.price_max) if p is not None]
        if any(p.amount < 0 for p in prices):
            raise DomainError("error.search.invalid_price_range")
        if len(prices) == 2:
            assert self.price_min is not None and self.price_max is not None
            if self.price_min.currency != self.price_max.currency or self.price_max < self.price_min:
                raise DomainError("error.search.invalid_price_range")
        if self.min_rating is not None and not 0.0 <= self.min_rating <= 5.0:
            raise DomainError("error.search.invalid_rating", rating=self.min_rating)
        if self.tier_min is not None and not 1 <= self.tier_min <= MAX_TIER:
            raise DomainError("error.provider.invalid_tier", tier=self.tier_min, maximum=MAX_TIER)
        if not 0.0 < self.radius_km <= MAX_RADIUS_KM:
            raise DomainError("error.search.invalid_radius", radius_km=self.radius_km, maximum=MAX_RADIUS_KM)
        if self.free_at is not None and self.free_at.tzinfo is None:
            raise DomainError("error.search.naive_time")
        tags = normalize_tags(self.tags)
        if tags == self.tags:
            return self
        return replace(self, tags=tags)

    @property
    def currency(self) -> str | None:
        price = self.price_min or self.price_max
        return price.currency if price else None


@dataclass(frozen=True, kw_only=True)
class SearchHit:
    provider_id: int
    display_name: str
    tier: int
    presence: Presence
    rating_count: int
    rating_average: float
    tags: frozenset[str]
    lowest_price: Money | None  # cheapest matching offer's unit price
    offer_id: int | None
    distance_km: float | None
    score: float


@dataclass(frozen=True, kw_only=True)
class SearchPage:
    hits: tuple[SearchHit, ...]
    page: int
    size: int
    has_more: bool
