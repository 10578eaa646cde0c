"""The production `Directory`: booking's view of identity and catalog, read in the caller's
unit of work (`uow.users`, `uow.blocks`, `uow.providers`, `uow.offers`, `uow.categories`,
`uow.availability`, `uow.venues`, `uow.favourites`, `uow.provider_search`).

It turns the other areas' aggregates into booking's small cards and applies their rules
(`ensure_can_act`, `ensure_bookable`, `check_bookable`), so the booking handlers never
depend on another area's field names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.booking.model import Place
from core.booking.ports import CategoryCard, MatchRequest, OfferCard, PersonCard, ProviderCard
from core.catalog import guards as catalog_guards
from core.catalog.availability import check_bookable
from core.catalog.model import GeoPoint, ProviderProfile, ProviderStatus
from core.identity import guards as identity_guards
from core.identity.model import Role, UserStatus
from core.identity.strikes import record_strike
from core.shared.audit import AuditEntry


class CatalogDirectory:
    async def acting_user(self, uow: Any, user_id: int, now: datetime) -> PersonCard:
        user = await identity_guards.acting_user(uow, user_id, now)
        return PersonCard(
            id=user.id, display_name=user.display_name, locale=user.locale,
            timezone=user.timezone, is_operator=user.has_role(Role.OPERATOR),
        )

    async def bookable_provider(self, uow: Any, provider_id: int) -> ProviderCard:
        profile = await uow.providers.get(provider_id)
        catalog_guards.ensure_bookable(profile)
        return _provider_card(profile)

    async def category(self, uow: Any, category_id: int) -> CategoryCard:
        # From the process's category snapshot (at most 30 s old, dropped when this process
        # writes a category; see SqlCategoryRepository.recent): categories change a few times
        # a year and every order command reads one.
        category = await uow.categories.recent(category_id)
        return CategoryCard(
            id=category.id, kind=category.kind.value, pricing_unit=category.pricing_unit.value,
            min_units=category.min_units, commission_bps=category.commission_bps,
            active=category.active,
        )

    async def offer(self, uow: Any, offer_id: int) -> OfferCard:
        offer = await uow.offers.get(offer_id)
        return OfferCard(
            id=offer.id, provider_id=offer.provider_id, category_id=offer.category_id,
            unit_price=offer.unit_price, min_units=offer.min_units, active=offer.active,
        )

    async def venue_share_bps(self, uow: Any, venue_id: int) -> int:
        venue = await uow.venues.get(venue_id)
        return int(venue.share_bps) if venue.active else 0

    async def check_slot(
        self, uow: Any, provider_id: int, start: datetime, end: datetime, now: datetime,
        busy: Sequence[tuple[datetime, datetime]],
    ) -> None:
        schedule = await uow.availability.schedule_of(provider_id)
        check_bookable(schedule, start, end, now, busy)

    async def is_blocked(self, uow: Any, user_a: int, user_b: int) -> bool:
        return bool(await uow.blocks.is_blocked(user_a, user_b))

    async def blocked_among(self, uow: Any, user_id: int, others: Sequence[int]) -> set[int]:
        if not others:
            return set()
        # Those this user blocked, in one query; the other direction is asked per person.
        mine = set(await uow.blocks.blocked_by(user_id))
        found = {p for p in others if p in mine}
        for other in others:
            if other not in found and await uow.blocks.is_blocked(user_id, other):
                found.add(other)
        return found

    async def favourites(self, uow: Any, customer_id: int) -> set[int]:
        return set(await uow.favourites.of_customer(customer_id))

    async def qualified(self, uow: Any, request: MatchRequest) -> list[int]:
        near = GeoPoint(request.near.lat, request.near.lon) if request.near else None
        return list(await uow.provider_search.qualified_for(
            request.category_id, request.tags, request.tier_min, near, request.at,
        ))

    async def record_strike(self, uow: Any, user_id: int, reason: str, at: datetime) -> int:
        return await record_strike(uow, user_id, reason, at)

    async def suspend_provider(self, uow: Any, provider_id: int, reason: str, at: datetime) -> None:
        profile = await uow.providers.get(provider_id)
        if profile.status is ProviderStatus.SUSPENDED:
            return
        profile.suspend(reason=reason, by=None, at=at)
        await uow.providers.save(profile)
        await uow.audit.add(AuditEntry(entity="provider", entity_id=str(provider_id),
                                       action="suspend", actor_id=None, at=at, reason=reason,
                                       data={"automatic": True}))

    async def ban_user(self, uow: Any, user_id: int, reason: str, at: datetime) -> None:
        user = await uow.users.get(user_id)
        if user.status_at(at) is UserStatus.BANNED:
            return
        user.ban(reason=reason, until=None, actor_id=None, now=at)
        await uow.users.save(user)
        await uow.audit.add(AuditEntry(entity="user", entity_id=str(user_id), action="ban",
                                       actor_id=None, at=at, reason=reason,
                                       data={"automatic": True}))

    async def set_service_stats(
        self, uow: Any, provider_id: int, completion_rate: float, response_time_s: int
    ) -> None:
        await uow.providers.set_service_stats(provider_id, completion_rate, response_time_s)


def _provider_card(profile: ProviderProfile) -> ProviderCard:
    location = profile.location
    return ProviderCard(
        id=profile.user_id, display_name=profile.display_name, tier=profile.tier,
        tags=frozenset(profile.tags), presence=str(profile.presence.value),
        place=Place(location.lat, location.lon) if location is not None else None,
        service_radius_km=profile.service_radius_km, venue_id=profile.venue_id,
        timezone=profile.timezone,
    )
