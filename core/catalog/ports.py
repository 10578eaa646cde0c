"""The catalog's repositories as Protocols (storage implements them in SQL).

Each is an attribute of the unit of work: `uow.categories`, `uow.providers`, `uow.offers`,
`uow.availability`, `uow.applications`, `uow.venues`, `uow.favourites`, `uow.provider_search`.
Repositories track every aggregate they return or add, so its events reach the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.catalog.availability import Schedule
from core.catalog.model import Category, GeoPoint, Offer, OfferDraft, ProviderProfile, Venue
from core.catalog.onboarding import Application, ApplicationStatus
from core.catalog.search import SearchCriteria, SearchPage


class CategoryRepository(Protocol):
    async def get(self, category_id: int) -> Category:
        """Raises NotFound("error.category.not_found")."""
        ...

    async def recent(self, category_id: int) -> Category:
        """Like `get`, but from a snapshot the process shares, up to half a minute old even
        in a command: for readers that only check and price with it (booking)."""
        ...

    async def get_by_slug(self, slug: str) -> Category:
        """Raises NotFound("error.category.not_found")."""
        ...

    async def find_by_slug(self, slug: str) -> Category | None: ...
    async def list(self, *, include_inactive: bool = True) -> list[Category]: ...
    async def add(self, category: Category) -> Category:
        """Insert (the id given is ignored); returns the category with its new id."""
        ...

    async def save(self, category: Category) -> Category:
        """Version-checked update; returns the category with its bumped version."""
        ...


class ProviderRepository(Protocol):
    async def get(self, user_id: int) -> ProviderProfile:
        """Raises NotFound("error.provider.not_found")."""
        ...

    async def find(self, user_id: int) -> ProviderProfile | None: ...
    async def read_details(
        self, user_id: int, *, viewer_id: int | None = None
    ) -> tuple[ProviderProfile, tuple[Offer, ...], Schedule, bool]:
        """Profile, active offers (by id), schedule and whether `viewer_id` saved the
        provider, read together for showing only (the profile is not tracked: nothing read
        here is saved). Raises NotFound."""
        ...

    async def add(self, profile: ProviderProfile) -> None: ...
    async def save(self, profile: ProviderProfile) -> None: ...
    async def idle_online(self, last_active_before: datetime, limit: int) -> list[ProviderProfile]:
        """Online providers whose last activity is older than the cut-off (locked for update)."""
        ...

    async def set_rating_stats(
        self, provider_id: int, count: int, average: float, bayesian: float
    ) -> None: ...
    async def set_service_stats(
        self, provider_id: int, completion_rate: float, response_time_s: int
    ) -> None: ...


class OfferRepository(Protocol):
    async def get(self, offer_id: int) -> Offer:
        """Raises NotFound("error.offer.not_found")."""
        ...

    async def for_provider(self, provider_id: int, *, include_inactive: bool = False) -> list[Offer]: ...
    async def upsert(self, provider_id: int, draft: OfferDraft) -> Offer:
        """The provider's offer in the draft's category, created or replaced, active."""
        ...

    async def deactivate(self, offer_id: int) -> None: ...
    async def deactivate_all_except(self, provider_id: int, keep: Sequence[int]) -> None: ...


class AvailabilityRepository(Protocol):
    async def schedule_of(self, provider_id: int) -> Schedule:
        """The provider's schedule (an empty one in their zone if none was set).

        Raises NotFound("error.provider.not_found") for someone who is not a provider.
        """
        ...

    async def save(self, schedule: Schedule) -> Schedule: ...


class ApplicationRepository(Protocol):
    async def add(self, application: Application) -> None:
        """Insert and set `application.id`."""
        ...

    async def get(self, application_id: int) -> Application:
        """Raises NotFound("error.application.not_found")."""
        ...

    async def pending_of(self, user_id: int) -> Application | None: ...
    async def list(self, status: ApplicationStatus | None, *, limit: int) -> list[Application]: ...
    async def of_user(self, user_id: int) -> list[Application]: ...
    async def save(self, application: Application) -> None: ...


class VenueRepository(Protocol):
    async def get(self, venue_id: int) -> Venue:
        """Raises NotFound("error.venue.not_found")."""
        ...

    async def list(self) -> list[Venue]: ...
    async def add(self, venue: Venue) -> Venue: ...
    async def save(self, venue: Venue) -> Venue: ...


class FavouriteRepository(Protocol):
    async def add(self, customer_id: int, provider_id: int, at: datetime) -> bool:
        """True when newly added, False when it was already a favourite."""
        ...

    async def remove(self, customer_id: int, provider_id: int) -> bool: ...
    async def of_customer(self, customer_id: int) -> set[int]: ...


class ProviderSearch(Protocol):
    async def search(self, criteria: SearchCriteria) -> SearchPage: ...
    async def qualified_for(
        self,
        category_id: int,
        tags: frozenset[str] = frozenset(),
        tier_min: int | None = None,
        near: GeoPoint | None = None,
        at: datetime | None = None,
        *,
        radius_km: float | None = None,
        limit: int = 500,
    ) -> list[int]:
        """Provider ids able to take an open order, best ranked first."""
        ...
