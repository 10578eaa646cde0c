"""SQL repositories of the catalog area, and the provider search.

Rows map to the core's dataclasses by hand. Provider statistics (ratings, completion rate,
response time) are written only through `set_rating_stats` / `set_service_stats`, never by
`save`, so a profile loaded before a review arrived cannot overwrite the new figures; both
recompute `rank_base`, the search-independent part of the ranking score. The provider row
also carries copies the search reads without a lookup (`tag_list`, `category_list`,
`week_slots`), kept current by the repositories that write tags, offers and hours.

The search (`SqlProviderSearch`) ranks as documented in `core/catalog/ranking.py`. Without
a point it walks the covering ranking index and stops after one page, checking each
provider's row copies; with a point it takes the bounding box on indexed latitude/longitude
and computes the exact distance and score in Python. Filters that may match very few
providers (a rare tag, a quiet hour) are counted first, in one round trip: when few, their
ids are where the search starts; when many, they are checked along the ranking, where
matches come early. Plans are thus chosen by what was counted, not by column statistics.
A page without a point is one statement: the ranked rows carry their cheapest matching offer.

Categories change when an operator edits them, a few times a year, and every browse reads
them. A read-only unit of work (a query) reads them from a snapshot of the whole table kept
per engine for `CATEGORY_SNAPSHOT_SECONDS`; a category written through this process drops
it, and another process's edit is seen when it expires. Commands read the table, except
through `recent`, which booking uses to price and check an order: a category an operator
edits in another process (the admin CLI) reaches bookings at most that many seconds later,
as if the edit had been made that much later.

Browsing reads the same pages and cards over and over, each written far less often than
read. A read-only unit of work takes them from the engine's `BrowseCache` (pages of
providers and cards for `BROWSE_PAGE_SECONDS` / `BROWSE_CARD_SECONDS`, whether a viewer
saved a provider keyed by viewer): every write through these repositories drops what it
affects, and another process's change shows when what was read before it ages out.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from core.catalog.availability import (
    AvailabilityPlan,
    Schedule,
    WeeklyRule,
    local_moment,
    slot_index,
    week_slots,
)
from core.catalog.model import (
    MAX_SERVICE_RADIUS_KM,
    Category,
    GeoPoint,
    Offer,
    OfferDraft,
    Presence,
    PricingUnit,
    ProfileDraft,
    ProviderProfile,
    ProviderStatus,
    ServiceKind,
    Venue,
    subtree_ids,
)
from core.catalog.onboarding import Application, ApplicationStatus, Document, DocumentKind
from core.catalog.ranking import (
    RESPONSE_HALF_LIFE_S,
    WEIGHT_COMPLETION,
    WEIGHT_RATING,
    WEIGHT_RESPONSE,
    bounding_box,
    haversine_km,
    quality,
    score,
)
from core.catalog.search import SearchCriteria, SearchHit, SearchPage
from core.shared.errors import NotFound
from core.shared.money import Money
from storage.repositories.base import SqlRepository
from storage.repositories.engine_caches import EVERYTHING, Shelf, StampedPerEngine
from storage.tables.catalog import (
    applications,
    blocked_dates,
    categories,
    favourites,
    offers,
    provider_tags,
    providers,
    schedule_windows,
    schedules,
    timezones,
    venues,
)

# The statements of plain pages (a category and filters on price, rating, tier or presence:
# no tags, time or point, which need counting or a point first), by what they ask. Every
# browse asks the same few, and building and keying a statement costs more CPU than
# running it; a kept one is keyed once (SQLAlchemy memoizes the key on the statement).
MAX_PAGE_STATEMENTS = 1_000
_page_statements: dict[tuple[Any, ...], sa.Select[Any]] = {}

# A near-me search ranks at most this many candidates from the bounding box (best rank_base
# first), which keeps a search in a very dense area bounded.
MAX_NEAR_CANDIDATES = 20_000
# A filter matching at most this many providers (a rare tag, a quiet hour) is turned into a
# list of their ids for the search to start from; a commoner one is checked row by row while
# walking the ranking, where matches come early.
FEW_IDS = 1_000
# Rows a ranked walk reads per match expected, times a page and some slack for the other
# filters: the yardstick for "start from the ids" versus "walk the ranking" (free at).
PAGE_WALK = 100


@dataclass(frozen=True)
class Moment:
    """Zones sharing a local (date, weekday, minute) at the searched instant."""

    moment: tuple[date, int, int]
    zones: list[str]
    size: int  # providers in these zones

# -- browsing ------------------------------------------------------------------------------

# A list page carries each provider's "online now" dot and a card their presence: a change
# made by another process (another worker, the admin CLI) shows at most this late. A few
# seconds is less than a customer takes to read a page and tap, booking checks the provider
# against fresh rows anyway, and pages and cards are read again by other customers within
# seconds, so most repeated reads still find them.
BROWSE_PAGE_SECONDS = 5.0
BROWSE_CARD_SECONDS = 5.0
# At most this many of each are held, the least recently read dropped first: a page is a
# few kilobytes, a card a couple (its row, offers and schedule), a viewer's favourite a pair.
MAX_BROWSE_PAGES = 1_024
MAX_BROWSE_CARDS = 4_096
MAX_BROWSE_FAVOURITES = 16_384

class BrowseCache:
    """What browsing reads again and again, for read-only units of work on one engine (one
    per engine, see `browse_cache`): pages of providers by what they ask, each provider's
    card (row, active offers, schedule) and whether a viewer saved a provider.

    A write made through this process's repositories drops what it affects at once (a
    provider's row, offers or hours: their card and every page; a favourite: that viewer's
    answer about that provider; a category: every page), and nothing read before it or
    while it may still commit is kept, so the next read here shows it. A change made by
    another process shows when what was read before it ages out.
    """

    def __init__(
        self,
        *,
        page_seconds: float = BROWSE_PAGE_SECONDS,
        card_seconds: float = BROWSE_CARD_SECONDS,
        max_pages: int = MAX_BROWSE_PAGES,
        max_cards: int = MAX_BROWSE_CARDS,
        max_favourites: int = MAX_BROWSE_FAVOURITES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pages = Shelf(page_seconds, max_pages, clock)
        self.cards = Shelf(card_seconds, max_cards, clock)
        # (viewer, provider) -> saved: an answer for one viewer, never served to another
        self.favourites = Shelf(card_seconds, max_favourites, clock)

    def provider_written(self, provider_id: int, transaction: Any) -> None:
        self.cards.written(provider_id, transaction)
        self.pages.written(EVERYTHING, transaction)

    def favourite_written(self, customer_id: int, provider_id: int, transaction: Any) -> None:
        self.favourites.written((customer_id, provider_id), transaction)

    def categories_written(self, transaction: Any) -> None:
        self.pages.written(EVERYTHING, transaction)

    def stamp(self) -> int | None:
        """Changes whenever anything is written here; None while a write may still commit."""
        shelves = (self.pages, self.cards, self.favourites)
        if any(shelf.busy() for shelf in shelves):
            return None
        return sum(shelf.generation for shelf in shelves)


_BROWSE_CACHES = StampedPerEngine(BrowseCache, "browse")


def browse_cache(engine: Any) -> BrowseCache:
    """The engine's `BrowseCache` (an async engine or its sync engine), made on first use
    (keeping nothing read on SQLite: see `use_browse_cache`)."""
    return _BROWSE_CACHES.of(engine)


def use_browse_cache(engine: Any, cache: BrowseCache) -> None:
    """Hold the engine's browsing reads in `cache` (other lives, sizes or clock) and, on
    SQLite, stamp its transactions as they begin: without that nothing read there is kept.
    Wiring calls it before the engine runs a transaction (see `StampedPerEngine`)."""
    _BROWSE_CACHES.use(engine, cache)


async def _writing(repository: SqlRepository) -> Any:
    """The transaction `repository` writes in (None when it has none)."""
    connection = await repository.uow.open()
    return connection.sync_connection.get_transaction()


def _browsing(repository: SqlRepository) -> BrowseCache | None:
    """The engine's cache in a read-only unit of work; None in a command's."""
    uow = repository.uow
    return browse_cache(uow.engine) if getattr(uow, "read_only", False) else None


# -- categories ----------------------------------------------------------------------------

CATEGORY_SNAPSHOT_SECONDS = 30.0
# engine -> (expires at, on the monotonic clock; every category in listing order)
_category_snapshots: WeakKeyDictionary[Any, tuple[float, tuple[Category, ...]]] = (
    WeakKeyDictionary()
)


def forget_categories(engine: Any) -> None:
    """Drop the engine's category snapshot: the next query reads the table."""
    _category_snapshots.pop(engine, None)


def _category(row: Any) -> Category:
    return Category(
        id=row.id,
        slug=row.slug,
        parent_id=row.parent_id,
        kind=ServiceKind(row.kind),
        pricing_unit=PricingUnit(row.pricing_unit),
        min_units=row.min_units,
        commission_bps=row.commission_bps,
        name_zh=row.name_zh,
        name_en=row.name_en,
        active=row.active,
        sort_order=row.sort_order,
        version=row.version,
    )


def _category_values(category: Category) -> dict[str, Any]:
    return {
        "slug": category.slug,
        "parent_id": category.parent_id,
        "kind": category.kind.value,
        "pricing_unit": category.pricing_unit.value,
        "min_units": category.min_units,
        "commission_bps": category.commission_bps,
        "name_zh": category.name_zh,
        "name_en": category.name_en,
        "active": category.active,
        "sort_order": category.sort_order,
    }


class SqlCategoryRepository(SqlRepository):
    def _engine(self) -> Any:
        return self.uow.engine.sync_engine

    async def snapshot(self) -> tuple[Category, ...] | None:
        """Every category, at most `CATEGORY_SNAPSHOT_SECONDS` old, for a read-only unit of
        work; None for a command's, which reads the table itself."""
        if not getattr(self.uow, "read_only", False):
            return None
        return await self._snapshot()

    async def _snapshot(self) -> tuple[Category, ...]:
        now = time.monotonic()
        held = _category_snapshots.get(self._engine())
        if held is None or held[0] <= now:
            query = sa.select(categories).order_by(categories.c.sort_order, categories.c.id)
            listed = tuple(_category(r) for r in (await self.connection.execute(query)).all())
            held = (now + CATEGORY_SNAPSHOT_SECONDS, listed)
            _category_snapshots[self._engine()] = held
        return held[1]

    async def _one(self, where: Any, **params: Any) -> Category:
        row = (await self.connection.execute(sa.select(categories).where(where))).first()
        if row is None:
            raise NotFound("error.category.not_found", **params)
        return _category(row)

    async def get(self, category_id: int) -> Category:
        held = await self.snapshot()
        if held is not None:
            for category in held:
                if category.id == category_id:
                    return category
            raise NotFound("error.category.not_found", category=category_id)
        return await self._one(categories.c.id == category_id, category=category_id)

    async def recent(self, category_id: int) -> Category:
        """The category from the snapshot, in any unit of work (see the module's docstring);
        one the snapshot does not know yet (added meanwhile elsewhere) is read from the table."""
        for category in await self._snapshot():
            if category.id == category_id:
                return category
        return await self._one(categories.c.id == category_id, category=category_id)

    async def get_by_slug(self, slug: str) -> Category:
        found = await self.find_by_slug(slug)
        if found is None:
            raise NotFound("error.category.not_found", category=slug)
        return found

    async def find_by_slug(self, slug: str) -> Category | None:
        held = await self.snapshot()
        if held is not None:
            return next((c for c in held if c.slug == slug), None)
        row = (await self.connection.execute(sa.select(categories).where(categories.c.slug == slug))).first()
        return _category(row) if row else None

    async def list(self, *, include_inactive: bool = True) -> list[Category]:
        held = await self.snapshot()
        if held is not None:
            return [c for c in held if include_inactive or c.active]
        query = sa.select(categories).order_by(categories.c.sort_order, categories.c.id)
        if not include_inactive:
            query = query.where(categories.c.active.is_(True))
        return [_category(r) for r in (await self.connection.execute(query)).all()]

    async def add(self, category: Category) -> Category:
        result = await self.connection.execute(
            categories.insert().values(**_category_values(category), version=1)
        )
        await self._written()
        return replace(category, id=result.inserted_primary_key[0], version=1)

    async def save(self, category: Category) -> Category:
        version = await self.update_versioned(
            categories, {"id": category.id}, category.version, _category_values(category)
        )
        await self._written()
        return replace(category, version=version)

    async def _written(self) -> None:
        """A category was written: the snapshot goes, and the pages of providers (a page of
        a category lists its active sub-categories' providers)."""
        forget_categories(self._engine())
        browse_cache(self.uow.engine).categories_written(await _writing(self))


# -- providers -----------------------------------------------------------------------------


def _profile(row: Any) -> ProviderProfile:
    return ProviderProfile(
        user_id=row.user_id,
        display_name=row.display_name,
        bio=row.bio,
        photos=tuple(row.photos or ()),
        voice_intro=row.voice_intro,
        status=ProviderStatus(row.status),
        presence=Presence(row.presence),
        tier=row.tier,
        tags=_tags_of(row.tag_list),
        location=GeoPoint(row.lat, row.lon) if row.lat is not None and row.lon is not None else None,
        service_radius_km=row.service_radius_km,
        venue_id=row.venue_id,
        timezone=row.timezone,
        rating_count=row.rating_count,
        rating_average=row.rating_average,
        rating_bayesian=row.rating_bayesian,
        completion_rate=row.completion_rate,
        response_time_s=row.response_time_s,
        last_active_at=row.last_active_at,
        approved_at=row.approved_at,
        suspended_reason=row.suspended_reason,
        version=row.version,
    )


def _profile_values(profile: ProviderProfile) -> dict[str, Any]:
    """The columns `save` may write: everything but the statistics and rank."""
    return {
        "display_name": profile.display_name,
        "bio": profile.bio,
        "photos": list(profile.photos),
        "voice_intro": profile.voice_intro,
        "status": profile.status.value,
        "presence": profile.presence.value,
        "tier": profile.tier,
        "lat": profile.location.lat if profile.location else None,
        "lon": profile.location.lon if profile.location else None,
        "service_radius_km": profile.service_radius_km,
        "venue_id": profile.venue_id,
        "timezone": profile.timezone,
        "last_active_at": profile.last_active_at,
        "suspended_reason": profile.suspended_reason,
        "tag_list": tag_list(profile.tags),
    }


def tag_list(tags: frozenset[str]) -> str:
    """",lang:zh,rank:king,": every tag between commas, so `LIKE '%,tag,%'` finds one."""
    return "," + ",".join(sorted(tags)) + "," if tags else ","


def _tags_of(value: str) -> frozenset[str]:
    return frozenset(t for t in value.split(",") if t)


# The provider details statement per dialect: built and keyed once, run with parameters.
_details_statements: dict[str, sa.Select[Any]] = {}
# Reads by key, built once too: building a statement and its cache key on every call costs
# more CPU than running it. A provider is read for update on PostgreSQL (see `for_update`).
_PROVIDER = sa.select(providers).where(providers.c.user_id == sa.bindparam("user_id"))
_FIND_PROVIDER = {"postgresql": _PROVIDER.with_for_update(), "sqlite": _PROVIDER}
# Whether a viewer saved a provider, for a card already held (see `BrowseCache`).
_SAVED = sa.select(
    sa.exists().where(
        favourites.c.customer_id == sa.bindparam("viewer"),
        favourites.c.provider_id == sa.bindparam("provider"),
    )
)


class SqlProviderRepository(SqlRepository):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Tags and zone as loaded, so a save rewrites only what changed.
        self._loaded_tags: dict[int, frozenset[str]] = {}
        self._loaded_zones: dict[int, str] = {}

    async def _load(
        self, query: sa.Select[Any], params: dict[str, Any] | None = None
    ) -> list[ProviderProfile]:
        profiles = []
        for row in (await self.connection.execute(query, params)).all():
            profile = _profile(row)
            self._loaded_tags[profile.user_id] = profile.tags
            self._loaded_zones[profile.user_id] = profile.timezone
            self.uow.track(profile)
            profiles.append(profile)
        return profiles

    async def find(self, user_id: int) -> ProviderProfile | None:
        found = await self._load(_FIND_PROVIDER[self.dialect], {"user_id": user_id})
        return found[0] if found else None

    async def get(self, user_id: int) -> ProviderProfile:
        profile = await self.find(user_id)
        if profile is None:
            raise NotFound("error.provider.not_found", provider_id=user_id)
        return profile

    async def read_details(
        self, user_id: int, *, viewer_id: int | None = None
    ) -> tuple[ProviderProfile, tuple[Offer, ...], Schedule, bool]:
        """One statement: the provider row, their schedule (joined), blocked dates, active
        offers and the viewer's favourite (in subqueries). In a read-only unit of work the
        card and the viewer's answer may come from the engine's `BrowseCache` instead: a card
        held but a viewer not yet asked about costs one small read of their favourite."""
        cache = _browsing(self)
        viewer = (viewer_id, user_id)
        if cache is not None:
            card = cache.cards.get(user_id)
            if card is not None:
                row, found, schedule = card[0]
                if viewer_id is None:
                    return _profile(row), found, schedule, False
                held = cache.favourites.get(viewer)
                if held is None:
                    ticket = cache.favourites.ticket(viewer)
                    saved = bool((await self.connection.execute(
                        _SAVED, {"provider": user_id, "viewer": viewer_id}
                    )).scalar())
                    if await _BROWSE_CACHES.kept(self, cache):
                        cache.favourites.put(ticket, viewer, saved)
                    held = (saved,)
                return _profile(row), found, schedule, held[0]
            card_ticket = cache.cards.ticket(user_id)
            saved_ticket = cache.favourites.ticket(viewer) if viewer_id is not None else None
        query = _details_statements.get(self.dialect)
        if query is None:
            query = _details_statements[self.dialect] = self._details_statement()
        params = {"provider": user_id, "viewer": viewer_id if viewer_id is not None else 0}
        row = (await self.connection.execute(query, params)).first()
        if row is None:
            raise NotFound("error.provider.not_found", provider_id=user_id)
        profile = _profile(row)
        listed = sorted(row.offer_rows or (), key=lambda fields: int(fields[0]))
        found = tuple(
            Offer(
                id=int(offer_id),
                provider_id=user_id,
                category_id=int(category_id),
                unit_price=Money(int(price), currency),
                min_units=int(min_units),
                description=description,
                active=True,
                per_km_price=Money(int(per_km), currency) if per_km is not None else None,
            )
            for offer_id, category_id, price, currency, per_km, min_units, description in listed
        )
        columns = (row.schedule_rules, row.schedule_buffer_minutes,
                   row.schedule_min_notice_minutes, row.schedule_horizon_days, row.schedule_version)
        schedule = _schedule(user_id, row.timezone, columns, row.blocked)
        if cache is not None and await _BROWSE_CACHES.kept(self, cache):
            # The row is kept and a profile made from it for each read: a profile is mutable.
            cache.cards.put(card_ticket, user_id, (row, found, schedule))
            if viewer_id is not None:
                cache.favourites.put(saved_ticket, viewer, bool(row.favourite))
        return profile, found, schedule, bool(row.favourite)

    async def _written(self, provider_id: int) -> None:
        """Every write of a provider's row goes through here: their card and the pages go."""
        browse_cache(self.uow.engine).provider_written(provider_id, await _writing(self))

    def _details_statement(self) -> sa.Select[Any]:
        p, s, o, b, f = providers, schedules, offers, blocked_dates, favourites
        fields = (o.c.id, o.c.category_id, o.c.unit_price, o.c.currency, o.c.per_km_price,
                  o.c.min_units, o.c.description)
        if self.dialect == "postgresql":
            offer_rows: Any = sa.func.json_agg(sa.func.json_build_array(*fields))
        else:
            offer_rows = sa.func.json_group_array(sa.func.json_array(*fields))
        return (
            sa.select(
                p,
                s.c.rules.label("schedule_rules"),
                s.c.buffer_minutes.label("schedule_buffer_minutes"),
                s.c.min_notice_minutes.label("schedule_min_notice_minutes"),
                s.c.horizon_days.label("schedule_horizon_days"),
                s.c.version.label("schedule_version"),
                sa.select(sa.func.aggregate_strings(sa.cast(b.c.day, sa.String), ","))
                .where(b.c.provider_id == p.c.user_id)
                .scalar_subquery()
                .label("blocked"),
                sa.select(sa.type_coerce(offer_rows, sa.JSON))
                .where(o.c.provider_id == p.c.user_id, o.c.active.is_(True))
                .scalar_subquery()
                .label("offer_rows"),
                sa.exists()
                .where(f.c.customer_id == sa.bindparam("viewer"), f.c.provider_id == p.c.user_id)
                .label("favourite"),
            )
            .select_from(p.outerjoin(s, s.c.provider_id == p.c.user_id))
            .where(p.c.user_id == sa.bindparam("provider"))
        )

    async def _count_zone(self, name: str, change: int) -> None:
        """Keep the number of providers per time zone (see `catalog_timezones`)."""
        insert = self.insert(timezones).values(name=name, providers=max(change, 0))
        await self.connection.execute(
            insert.on_conflict_do_update(
                index_elements=["name"], set_={"providers": timezones.c.providers + change}
            )
        )

    async def _write_tags(self, profile: ProviderProfile) -> None:
        if self._loaded_tags.get(profile.user_id) == profile.tags:
            return
        await self.connection.execute(
            provider_tags.delete().where(provider_tags.c.provider_id == profile.user_id)
        )
        if profile.tags:
            await self.connection.execute(
                provider_tags.insert(),
                [{"provider_id": profile.user_id, "tag": tag} for tag in sorted(profile.tags)],
            )
        self._loaded_tags[profile.user_id] = profile.tags

    async def add(self, profile: ProviderProfile) -> None:
        assert profile.approved_at is not None, "a provider profile exists from approval on"
        await self.connection.execute(
            providers.insert().values(
                user_id=profile.user_id,
                **_profile_values(profile),
                rating_count=profile.rating_count,
                rating_average=profile.rating_average,
                rating_bayesian=profile.rating_bayesian,
                completion_rate=profile.completion_rate,
                response_time_s=profile.response_time_s,
                rank_base=quality(profile.rating_bayesian, profile.completion_rate, profile.response_time_s),
                approved_at=profile.approved_at,
                # Filled in as offers and hours are saved (see those repositories).
                category_list=",",
                week_slots=week_slots(()),
                version=1,
            )
        )
        profile.version = 1
        await self._write_tags(profile)
        await self._count_zone(profile.timezone, +1)
        self._loaded_zones[profile.user_id] = profile.timezone
        self.uow.track(profile)
        await self._written(profile.user_id)

    async def save(self, profile: ProviderProfile) -> None:
        profile.version = await self.update_versioned(
            providers, {"user_id": profile.user_id}, profile.version, _profile_values(profile)
        )
        await self._write_tags(profile)
        previous = self._loaded_zones.get(profile.user_id, profile.timezone)
        if previous != profile.timezone:
            await self._count_zone(previous, -1)
            await self._count_zone(profile.timezone, +1)
            self._loaded_zones[profile.user_id] = profile.timezone
        # The weekly hours carry the zone they are read in (for "free at" searches).
        await self.connection.execute(
            schedule_windows.update()
            .where(
                schedule_windows.c.provider_id == profile.user_id,
                schedule_windows.c.timezone != profile.timezone,
            )
            .values(timezone=profile.timezone)
        )
        self.uow.track(profile)
        await self._written(profile.user_id)

    async def idle_online(self, last_active_before: datetime, limit: int) -> list[ProviderProfile]:
        query = (
            sa.select(providers)
            .where(
                providers.c.presence == Presence.ONLINE.value,
                sa.or_(
                    providers.c.last_active_at.is_(None),
                    providers.c.last_active_at <= last_active_before,
                ),
            )
            .order_by(providers.c.user_id)
            .limit(limit)
        )
        return await self._load(self.for_update(query))

    async def set_rating_stats(
        self, provider_id: int, count: int, average: float, bayesian: float
    ) -> None:
        # One UPDATE, no read first: the service part of rank_base comes from the row itself.
        result = await self.connection.execute(_SET_RATING_STATS, {
            "provider_id": provider_id, "rating_count": count, "rating_average": average,
            "rating_bayesian": bayesian, "rating_term": _rating_term(bayesian),
        })
        if result.rowcount != 1:
            raise NotFound("error.provider.not_found", provider_id=provider_id)
        await self._written(provider_id)

    async def set_service_stats(
        self, provider_id: int, completion_rate: float, response_time_s: int
    ) -> None:
        # One UPDATE, no read first: the rating part of rank_base comes from the row itself,
        # so a review's rating written meanwhile is the one ranked with.
        completion, responsiveness = _service_terms(completion_rate, response_time_s)
        result = await self.connection.execute(_SET_SERVICE_STATS, {
            "provider_id": provider_id, "completion_rate": completion_rate,
            "response_time_s": response_time_s, "completion_term": completion,
            "responsiveness_term": responsiveness,
        })
        if result.rowcount != 1:
            raise NotFound("error.provider.not_found", provider_id=provider_id)
        await self._written(provider_id)


def _rating_term(rating_bayesian: float) -> float:
    """The rating term of `quality`, computed as it does."""
    return WEIGHT_RATING * (min(max(rating_bayesian, 0.0), 5.0) / 5.0)


def _service_terms(completion_rate: float, response_time_s: int) -> tuple[float, float]:
    """The completion and responsiveness terms of `quality`, computed as it does."""
    completion = min(max(completion_rate, 0.0), 1.0)
    responsiveness = 1.0 / (1.0 + max(response_time_s, 0) / RESPONSE_HALF_LIFE_S)
    return WEIGHT_COMPLETION * completion, WEIGHT_RESPONSE * responsiveness


def _float(value: float) -> Any:
    return sa.literal(value, sa.Float)


# `quality` in SQL with the same operations in the same order on the same doubles, so the
# stored rank_base is bit for bit what `quality(rating_bayesian, ...)` returns.
_RATING = providers.c.rating_bayesian
_RATING_TERM = _float(WEIGHT_RATING) * (
    sa.case((_RATING < _float(0.0), _float(0.0)), (_RATING > _float(5.0), _float(5.0)),
            else_=_RATING)
    / _float(5.0)
)
_COMPLETION = providers.c.completion_rate
_COMPLETION_TERM = _float(WEIGHT_COMPLETION) * sa.case(
    (_COMPLETION < _float(0.0), _float(0.0)), (_COMPLETION > _float(1.0), _float(1.0)),
    else_=_COMPLETION,
)
_RESPONSE = providers.c.response_time_s
# A whole number of seconds over the half-life: the same correctly rounded quotient in
# Python (int / int) and in SQL (both exact as doubles).
_RESPONSIVENESS_TERM = _float(WEIGHT_RESPONSE) * (
    _float(1.0) / (
        _float(1.0)
        + sa.cast(sa.case((_RESPONSE < 0, 0), else_=_RESPONSE), sa.Float)
        / _float(float(RESPONSE_HALF_LIFE_S))
    )
)
_SET_RATING_STATS = (
    providers.update()
    .where(providers.c.user_id == sa.bindparam("provider_id"))
    .values(
        rating_count=sa.bindparam("rating_count"),
        rating_average=sa.bindparam("rating_average"),
        rating_bayesian=sa.bindparam("rating_bayesian"),
        rank_base=(sa.bindparam("rating_term", type_=sa.Float) + _COMPLETION_TERM
                   + _RESPONSIVENESS_TERM),
    )
)
_SET_SERVICE_STATS = (
    providers.update()
    .where(providers.c.user_id == sa.bindparam("provider_id"))
    .values(
        completion_rate=sa.bindparam("completion_rate"),
        response_time_s=sa.bindparam("response_time_s"),
        rank_base=(_RATING_TERM + sa.bindparam("completion_term", type_=sa.Float)
                   + sa.bindparam("responsiveness_term", type_=sa.Float)),
    )
)


# -- offers --------------------------------------------------------------------------------


def _offer(row: Any) -> Offer:
    return Offer(
        id=row.id,
        provider_id=row.provider_id,
        category_id=row.category_id,
        unit_price=Money(row.unit_price, row.currency),
        min_units=row.min_units,
        description=row.description,
        active=row.active,
        per_km_price=Money(row.per_km_price, row.currency) if row.per_km_price is not None else None,
    )


def _offer_values(draft: OfferDraft) -> dict[str, Any]:
    return {
        "unit_price": draft.unit_price.amount,
        "currency": draft.unit_price.currency,
        "per_km_price": draft.per_km_price.amount if draft.per_km_price else None,
        "min_units": draft.min_units,
        "description": draft.description,
        "active": True,
    }


_OFFER = sa.select(offers).where(offers.c.id == sa.bindparam("offer_id"))
# A provider's offers, keyed by whether inactive ones are included.
_ALL_OFFERS_OF = (
    sa.select(offers).where(offers.c.provider_id == sa.bindparam("provider_id")).order_by(offers.c.id)
)
_OFFERS_OF = {True: _ALL_OFFERS_OF, False: _ALL_OFFERS_OF.where(offers.c.active.is_(True))}


class SqlOfferRepository(SqlRepository):
    async def _refresh_category_list(self, provider_id: int) -> None:
        """Keep the provider row's copy of their active offers' categories current."""
        ids = (
            await self.connection.execute(
                sa.select(offers.c.category_id)
                .where(offers.c.provider_id == provider_id, offers.c.active.is_(True))
                .order_by(offers.c.category_id)
            )
        ).scalars().all()
        await self.connection.execute(
            providers.update()
            .where(providers.c.user_id == provider_id)
            .values(category_list="," + "".join(f"{i}," for i in ids))
        )
        # Every write of offers ends here: the provider's card and the pages go.
        browse_cache(self.uow.engine).provider_written(provider_id, await _writing(self))

    async def get(self, offer_id: int) -> Offer:
        row = (await self.connection.execute(_OFFER, {"offer_id": offer_id})).first()
        if row is None:
            raise NotFound("error.offer.not_found", offer_id=offer_id)
        return _offer(row)

    async def for_provider(self, provider_id: int, *, include_inactive: bool = False) -> list[Offer]:
        query = _OFFERS_OF[include_inactive]
        rows = (await self.connection.execute(query, {"provider_id": provider_id})).all()
        return [_offer(r) for r in rows]

    async def upsert(self, provider_id: int, draft: OfferDraft) -> Offer:
        existing = (
            await self.connection.execute(
                self.for_update(
                    sa.select(offers.c.id, offers.c.version).where(
                        offers.c.provider_id == provider_id,
                        offers.c.category_id == draft.category_id,
                    )
                )
            )
        ).first()
        if existing is None:
            result = await self.connection.execute(
                offers.insert().values(
                    provider_id=provider_id, category_id=draft.category_id, **_offer_values(draft), version=1
                )
            )
            offer_id = result.inserted_primary_key[0]
        else:
            offer_id = existing.id
            await self.update_versioned(offers, {"id": offer_id}, existing.version, _offer_values(draft))
        await self._refresh_category_list(provider_id)
        return Offer(
            id=offer_id,
            provider_id=provider_id,
            category_id=draft.category_id,
            unit_price=draft.unit_price,
            min_units=draft.min_units,
            description=draft.description,
            per_km_price=draft.per_km_price,
        )

    async def deactivate(self, offer_id: int) -> None:
        provider_id = (
            await self.connection.execute(
                offers.update()
                .where(offers.c.id == offer_id)
                .values(active=False, version=offers.c.version + 1)
                .returning(offers.c.provider_id)
            )
        ).scalar()
        if provider_id is not None:
            await self._refresh_category_list(provider_id)

    async def deactivate_all_except(self, provider_id: int, keep: Sequence[int]) -> None:
        await self.connection.execute(
            offers.update()
            .where(
                offers.c.provider_id == provider_id,
                offers.c.active.is_(True),
                offers.c.id.notin_(list(keep)),
            )
            .values(active=False, version=offers.c.version + 1)
        )
        await self._refresh_category_list(provider_id)


# -- availability --------------------------------------------------------------------------


def _rules_json(rules: Sequence[WeeklyRule]) -> list[list[int]]:
    return [[r.weekday, r.start_minute, r.end_minute] for r in rules]


def _rules(value: Any) -> tuple[WeeklyRule, ...]:
    return tuple(WeeklyRule(int(d), int(s), int(e)) for d, s, e in value or ())


def _schedule(provider_id: int, timezone: str, columns: Sequence[Any], blocked: str | None) -> Schedule:
    """A schedule from its columns (rules, buffer, notice, horizon, version: all None when
    the provider has none) and the blocked dates as "YYYY-MM-DD,…"."""
    rules, buffer_minutes, min_notice_minutes, horizon_days, version = columns
    if version is None:
        return Schedule(provider_id=provider_id, timezone=timezone)
    return Schedule(
        provider_id=provider_id,
        timezone=timezone,
        rules=_rules(rules),
        blocked_dates=frozenset(date.fromisoformat(day) for day in (blocked or "").split(",") if day),
        buffer_minutes=buffer_minutes,
        min_notice_minutes=min_notice_minutes,
        horizon_days=horizon_days,
        version=version,
    )


# A provider's schedule in one statement: the zone from the provider row, the schedule
# joined, the blocked dates aggregated.
_SCHEDULE_OF = (
    sa.select(
        providers.c.timezone,
        schedules.c.rules,
        schedules.c.buffer_minutes,
        schedules.c.min_notice_minutes,
        schedules.c.horizon_days,
        schedules.c.version,
        sa.select(sa.func.aggregate_strings(sa.cast(blocked_dates.c.day, sa.String), ","))
        .where(blocked_dates.c.provider_id == providers.c.user_id)
        .scalar_subquery()
        .label("blocked"),
    )
    .select_from(providers.outerjoin(schedules, schedules.c.provider_id == providers.c.user_id))
    .where(providers.c.user_id == sa.bindparam("provider_id"))
)


class SqlAvailabilityRepository(SqlRepository):
    async def schedule_of(self, provider_id: int) -> Schedule:
        row = (await self.connection.execute(_SCHEDULE_OF, {"provider_id": provider_id})).first()
        if row is None:
            raise NotFound("error.provider.not_found", provider_id=provider_id)
        return _schedule(provider_id, row.timezone, row[1:6], row.blocked)

    async def save(self, schedule: Schedule) -> Schedule:
        values = {
            "rules": _rules_json(schedule.rules),
            "buffer_minutes": schedule.buffer_minutes,
            "min_notice_minutes": schedule.min_notice_minutes,
            "horizon_days": schedule.horizon_days,
        }
        if schedule.version == 0:
            await self.connection.execute(
                schedules.insert().values(provider_id=schedule.provider_id, **values, version=1)
            )
            version = 1
        else:
            version = await self.update_versioned(
                schedules, {"provider_id": schedule.provider_id}, schedule.version, values
            )
        pid = schedule.provider_id
        await self.connection.execute(schedule_windows.delete().where(schedule_windows.c.provider_id == pid))
        await self.connection.execute(blocked_dates.delete().where(blocked_dates.c.provider_id == pid))
        pieces = [
            {"provider_id": pid, "weekday": d, "start_minute": s, "end_minute": e, "timezone": schedule.timezone}
            for rule in schedule.rules
            for d, s, e in rule.day_pieces()
        ]
        if pieces:
            await self.connection.execute(schedule_windows.insert(), pieces)
        if schedule.blocked_dates:
            await self.connection.execute(
                blocked_dates.insert(),
                [{"provider_id": pid, "day": day} for day in sorted(schedule.blocked_dates)],
            )
        await self.connection.execute(
            providers.update().where(providers.c.user_id == pid).values(week_slots=week_slots(schedule.rules))
        )
        browse_cache(self.uow.engine).provider_written(pid, await _writing(self))
        return replace(schedule, version=version)


# -- applications --------------------------------------------------------------------------


def _money_json(money: Money | None) -> dict[str, Any] | None:
    return {"amount": money.amount, "currency": money.currency} if money else None


def _money_of(value: Any) -> Money | None:
    return Money(int(value["amount"]), value["currency"]) if value else None


def _profile_json(draft: ProfileDraft) -> dict[str, Any]:
    return {
        "display_name": draft.display_name,
        "bio": draft.bio,
        "photos": list(draft.photos),
        "voice_intro": draft.voice_intro,
        "tags": sorted(draft.tags),
        "location": [draft.location.lat, draft.location.lon] if draft.location else None,
        "service_radius_km": draft.service_radius_km,
        "venue_id": draft.venue_id,
        "timezone": draft.timezone,
    }


def _profile_draft(value: dict[str, Any]) -> ProfileDraft:
    location = value.get("location")
    return ProfileDraft(
        display_name=value["display_name"],
        bio=value.get("bio", ""),
        photos=tuple(value.get("photos") or ()),
        voice_intro=value.get("voice_intro"),
        tags=frozenset(value.get("tags") or ()),
        location=GeoPoint(location[0], location[1]) if location else None,
        service_radius_km=value.get("service_radius_km"),
        venue_id=value.get("venue_id"),
        timezone=value["timezone"],
    )


def _offer_json(draft: OfferDraft) -> dict[str, Any]:
    return {
        "category_id": draft.category_id,
        "unit_price": _money_json(draft.unit_price),
        "min_units": draft.min_units,
        "description": draft.description,
        "per_km_price": _money_json(draft.per_km_price),
    }


def _offer_draft(value: dict[str, Any]) -> OfferDraft:
    price = _money_of(value["unit_price"])
    assert price is not None
    return OfferDraft(
        category_id=int(value["category_id"]),
        unit_price=price,
        min_units=int(value["min_units"]),
        description=value.get("description", ""),
        per_km_price=_money_of(value.get("per_km_price")),
    )


def _plan_json(plan: AvailabilityPlan) -> dict[str, Any]:
    return {
        "rules": _rules_json(plan.rules),
        "blocked_dates": sorted(d.isoformat() for d in plan.blocked_dates),
        "buffer_minutes": plan.buffer_minutes,
        "min_notice_minutes": plan.min_notice_minutes,
        "horizon_days": plan.horizon_days,
    }


def _plan(value: dict[str, Any]) -> AvailabilityPlan:
    return AvailabilityPlan(
        rules=_rules(value.get("rules")),
        blocked_dates=frozenset(date.fromisoformat(d) for d in value.get("blocked_dates") or ()),
        buffer_minutes=int(value["buffer_minutes"]),
        min_notice_minutes=int(value["min_notice_minutes"]),
        horizon_days=int(value["horizon_days"]),
    )


def _application(row: Any) -> Application:
    return Application(
        id=row.id,
        user_id=row.user_id,
        status=ApplicationStatus(row.status),
        profile=_profile_draft(row.profile),
        offers=tuple(_offer_draft(o) for o in row.offers),
        availability=_plan(row.availability),
        documents=tuple(Document(DocumentKind(d["kind"]), d["file_ref"]) for d in row.documents),
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        reason=row.reason,
        version=row.version,
    )


class SqlApplicationRepository(SqlRepository):
    async def _load(self, query: sa.Select[Any]) -> list[Application]:
        found = [_application(r) for r in (await self.connection.execute(query)).all()]
        for application in found:
            self.uow.track(application)
        return found

    async def add(self, application: Application) -> None:
        result = await self.connection.execute(
            applications.insert().values(
                user_id=application.user_id,
                status=application.status.value,
                profile=_profile_json(application.profile),
                offers=[_offer_json(o) for o in application.offers],
                availability=_plan_json(application.availability),
                documents=[{"kind": d.kind.value, "file_ref": d.file_ref} for d in application.documents],
                submitted_at=application.submitted_at,
                version=1,
            )
        )
        application.id = result.inserted_primary_key[0]
        application.version = 1
        self.uow.track(application)

    async def get(self, application_id: int) -> Application:
        found = await self._load(
            self.for_update(sa.select(applications).where(applications.c.id == application_id))
        )
        if not found:
            raise NotFound("error.application.not_found", application_id=application_id)
        return found[0]

    async def pending_of(self, user_id: int) -> Application | None:
        found = await self._load(
            sa.select(applications).where(
                applications.c.user_id == user_id,
                applications.c.status == ApplicationStatus.PENDING.value,
            )
        )
        return found[0] if found else None

    async def list(self, status: ApplicationStatus | None, *, limit: int) -> list[Application]:
        query = sa.select(applications).order_by(applications.c.submitted_at, applications.c.id).limit(limit)
        if status is not None:
            query = query.where(applications.c.status == status.value)
        return await self._load(query)

    async def of_user(self, user_id: int) -> list[Application]:
        return await self._load(
            sa.select(applications).where(applications.c.user_id == user_id).order_by(applications.c.id)
        )

    async def save(self, application: Application) -> None:
        assert application.id is not None
        application.version = await self.update_versioned(
            applications,
            {"id": application.id},
            application.version,
            {
                "status": application.status.value,
                "decided_at": application.decided_at,
                "decided_by": application.decided_by,
                "reason": application.reason,
            },
        )
        self.uow.track(application)


# -- venues and favourites -----------------------------------------------------------------


def _venue(row: Any) -> Venue:
    return Venue(
        id=row.id,
        name=row.name,
        manager_user_id=row.manager_user_id,
        share_bps=row.share_bps,
        address=row.address,
        active=row.active,
        version=row.version,
    )


class SqlVenueRepository(SqlRepository):
    async def get(self, venue_id: int) -> Venue:
        row = (await self.connection.execute(sa.select(venues).where(venues.c.id == venue_id))).first()
        if row is None:
            raise NotFound("error.venue.not_found", venue_id=venue_id)
        return _venue(row)

    async def list(self) -> list[Venue]:
        rows = (await self.connection.execute(sa.select(venues).order_by(venues.c.id))).all()
        return [_venue(r) for r in rows]

    async def add(self, venue: Venue) -> Venue:
        result = await self.connection.execute(
            venues.insert().values(
                name=venue.name,
                manager_user_id=venue.manager_user_id,
                share_bps=venue.share_bps,
                address=venue.address,
                active=venue.active,
                created_at=self.uow.clock.now(),
                version=1,
            )
        )
        return replace(venue, id=result.inserted_primary_key[0], version=1)

    async def save(self, venue: Venue) -> Venue:
        version = await self.update_versioned(
            venues,
            {"id": venue.id},
            venue.version,
            {
                "name": venue.name,
                "manager_user_id": venue.manager_user_id,
                "share_bps": venue.share_bps,
                "address": venue.address,
                "active": venue.active,
            },
        )
        return replace(venue, version=version)


class SqlFavouriteRepository(SqlRepository):
    async def add(self, customer_id: int, provider_id: int, at: datetime) -> bool:
        result = await self.connection.execute(
            self.insert(favourites)
            .values(customer_id=customer_id, provider_id=provider_id, created_at=at)
            .on_conflict_do_nothing(index_elements=["customer_id", "provider_id"])
        )
        await self._written(customer_id, provider_id)
        return bool(result.rowcount == 1)

    async def remove(self, customer_id: int, provider_id: int) -> bool:
        result = await self.connection.execute(
            favourites.delete().where(
                favourites.c.customer_id == customer_id, favourites.c.provider_id == provider_id
            )
        )
        await self._written(customer_id, provider_id)
        return bool(result.rowcount == 1)

    async def _written(self, customer_id: int, provider_id: int) -> None:
        """The customer's answer about the provider goes (the card itself does not say)."""
        browse_cache(self.uow.engine).favourite_written(customer_id, provider_id, await _writing(self))

    async def of_customer(self, customer_id: int) -> set[int]:
        rows = await self.connection.execute(
            sa.select(favourites.c.provider_id).where(favourites.c.customer_id == customer_id)
        )
        return set(rows.scalars())


# -- search --------------------------------------------------------------------------------

# (provider id, score, distance in km or None), best first
Ranked = list[tuple[int, float, float | None]]

# The columns a search hit shows, read with the page (or right after ranking a near-me page).
HIT_COLUMNS = (
    providers.c.display_name,
    providers.c.tier,
    providers.c.presence,
    providers.c.rating_count,
    providers.c.rating_average,
    providers.c.tag_list,
)


class SqlProviderSearch(SqlRepository):
    """A page takes a few round trips: the category tree (with a category), the zones
    (with "free at"), one count of rare tags and of who works then (with tags or "free at"),
    the ranked page with its hit columns, then the page's matching offers."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._subtrees: dict[int, list[int]] = {}

    async def _custom_plans(self) -> None:
        # Statements are prepared (asyncpg) and re-run with new values; a generic plan would
        # ignore the very values (which category, which hour, which ids) that decide the
        # best plan, so PostgreSQL plans this transaction's statements for their values.
        # (LOCAL: a search's transaction is rolled back, and a session SET with it.) A query's
        # read-only unit of work runs in autocommit, where SET LOCAL has no effect at all.
        if self.dialect == "postgresql" and not getattr(self.uow, "read_only", False):
            await self.connection.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def search(self, criteria: SearchCriteria) -> SearchPage:
        criteria = criteria.validated()
        # A page asked without a point or an instant (those differ from one search to the
        # next) may come from the engine's `BrowseCache` in a read-only unit of work.
        cache = _browsing(self) if criteria.near is None and criteria.free_at is None else None
        if cache is not None:
            held = cache.pages.get(criteria)
            if held is not None:
                page: SearchPage = held[0]
                return page
            ticket = cache.pages.ticket(criteria)
        await self._custom_plans()
        offset = (criteria.page - 1) * criteria.size
        ranked, details = await self._ranked(
            criteria, offset=offset, limit=criteria.size + 1, with_offers=True
        )
        hits = await self._hits(ranked[: criteria.size], details, criteria)
        page = SearchPage(
            hits=tuple(hits), page=criteria.page, size=criteria.size, has_more=len(ranked) > criteria.size
        )
        if cache is not None and await _BROWSE_CACHES.kept(self, cache):
            cache.pages.put(ticket, criteria, page)
        return page

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
        criteria = SearchCriteria(
            category_id=category_id,
            tags=tags,
            tier_min=tier_min,
            near=near,
            # Without a radius, each provider's own service radius decides.
            radius_km=radius_km or float(MAX_SERVICE_RADIUS_KM),
            free_at=at,
        ).validated()
        await self._custom_plans()
        ranked, _ = await self._ranked(criteria, offset=0, limit=limit)
        return [provider_id for provider_id, _, _ in ranked]

    async def _category_ids(self, category_id: int | None) -> list[int] | None:
        """The active categories at and below `category_id`, as literal ids: the planner then
        estimates how many offers match from its statistics (a subquery would hide that)."""
        if category_id is None:
            return None
        if category_id not in self._subtrees:
            held = await self.uow.categories.snapshot()
            everything = list(held) if held is not None else [
                _category(r) for r in (await self.connection.execute(sa.select(categories))).all()
            ]
            active = {c.id for c in everything if c.active}
            self._subtrees[category_id] = sorted(subtree_ids(everything, category_id) & active)
        return self._subtrees[category_id]

    def _offer_filter(self, criteria: SearchCriteria, category_ids: list[int] | None) -> list[Any]:
        where: list[Any] = [offers.c.active.is_(True)]
        if category_ids is not None:
            # An unknown or closed category matches nothing (the handler reports NotFound).
            where.append(self._one_of(offers.c.category_id, category_ids))
        if criteria.currency is not None:
            where.append(offers.c.currency == criteria.currency)
        if criteria.price_min is not None:
            where.append(offers.c.unit_price >= criteria.price_min.amount)
        if criteria.price_max is not None:
            where.append(offers.c.unit_price <= criteria.price_max.amount)
        return where

    async def _conditions(self, criteria: SearchCriteria) -> list[list[Any]]:
        """The filters as branches to OR together: one, or one per group of time zones that
        share a local time when the search asks who is free at a given instant."""
        p = providers
        category_ids = await self._category_ids(criteria.category_id)
        where: list[Any] = [
            p.c.status == ProviderStatus.APPROVED.value,
            # Equalities, not IN: an IN list is re-rendered into the SQL on every run.
            sa.or_(*(
                p.c.presence == presence.value
                for presence in (
                    [Presence.ONLINE] if criteria.online_now
                    else [Presence.ONLINE, Presence.BUSY, Presence.OFFLINE]
                )
            )),
            # At least one active offer (in the category, when one is asked for), read from
            # the row's copy of its offers' categories.
            p.c.category_list != ",",
        ]
        if category_ids is not None:
            where.append(
                sa.or_(*[p.c.category_list.contains(f",{i},") for i in category_ids])
                if category_ids
                else sa.false()
            )
        if criteria.currency is not None:
            where.append(
                sa.exists(
                    sa.select(1)
                    .select_from(offers)
                    .where(offers.c.provider_id == p.c.user_id, *self._offer_filter(criteria, category_ids))
                )
            )
        if criteria.min_rating is not None:
            where.append(p.c.rating_average >= criteria.min_rating)
        if criteria.tier_min is not None:
            where.append(p.c.tier >= criteria.tier_min)
        # Counting rare tags and who works at the moment is one round trip for both.
        moments = await self._moments(criteria.free_at) if criteria.free_at is not None else []
        few = await self._few(
            {
                **{f"tag:{tag}": self._tag_ids(tag) for tag in sorted(criteria.tags)},
                **{f"moment:{i}": self._working_ids(m.zones, m.moment) for i, m in enumerate(moments)},
            }
        )
        where.extend(self._tag_conditions(criteria.tags, few))
        if criteria.exclude_provider_ids:
            where.append(p.c.user_id.notin_(sorted(criteria.exclude_provider_ids)))
        if criteria.near is not None:
            min_lat, max_lat, min_lon, max_lon = bounding_box(
                criteria.near.lat, criteria.near.lon, criteria.radius_km
            )
            where.append(p.c.lat.between(min_lat, max_lat))
            if min_lon is not None and max_lon is not None:
                where.append(p.c.lon.between(min_lon, max_lon))
        if criteria.free_at is None:
            return [where]
        return [[*where, *branch] for branch in self._free_at(moments, few)]

    async def _few(self, queries: dict[str, sa.Select[Any]]) -> dict[str, list[int] | None]:
        """For each named id query: its ids when there are at most FEW_IDS, else None.

        One round trip: per query, how many rows it has (counted up to FEW_IDS + 1 from an
        index) and, only when few, the ids themselves as one comma-separated string.
        """
        if not queries:
            return {}
        names = list(queries)
        parts = []
        for i, query in enumerate(queries.values()):
            cut = query.limit(FEW_IDS + 1).subquery()
            count = sa.func.count()
            ids = sa.func.aggregate_strings(sa.cast(cut.c[0], sa.String), ",")
            parts.append(
                sa.select(
                    sa.literal(i).label("part"),
                    count.label("n"),
                    sa.case((count <= FEW_IDS, ids), else_=None).label("ids"),
                ).select_from(cut)
            )
        found: dict[str, list[int] | None] = {}
        for part, n, ids in (await self.connection.execute(sa.union_all(*parts))).all():
            found[names[part]] = [int(i) for i in ids.split(",")] if n and ids else ([] if not n else None)
        return found

    def _one_of(self, column: Any, ids: list[int]) -> Any:
        """`column IN ids`: one array parameter on PostgreSQL (the statement text, and so its
        prepared statement, stays the same whatever the list), a plain list on SQLite."""
        if not ids:
            return sa.false()
        if self.dialect == "postgresql":
            return column == sa.any_(sa.bindparam(None, ids, type_=postgresql.ARRAY(sa.BigInteger)))
        return column.in_(ids)

    @staticmethod
    def _tag_ids(tag: str) -> sa.Select[Any]:
        return sa.select(provider_tags.c.provider_id).where(provider_tags.c.tag == tag)

    def _tag_conditions(self, tags: frozenset[str], few: dict[str, list[int] | None]) -> list[Any]:
        """Each tag asked for must be present. The rarest tag, when few providers carry it,
        becomes a list of ids (the search starts from them); the others are read from the
        row's tag list."""
        p = providers
        ordered = sorted(tags)
        rarest = min(
            (tag for tag in ordered if few[f"tag:{tag}"] is not None),
            key=lambda tag: len(few[f"tag:{tag}"] or ()),
            default=None,
        )
        conditions: list[Any] = []
        for tag in ordered:
            if tag == rarest:
                conditions.append(self._one_of(p.c.user_id, few[f"tag:{tag}"] or []))
            else:
                conditions.append(p.c.tag_list.contains(f",{tag},", autoescape=True))
        return conditions

    async def _moments(self, instant: datetime) -> list[Moment]:
        """The zones providers work in, grouped by their local (date, weekday, minute) at
        `instant` (Shanghai, Hong Kong and Taipei always share one), with how many
        providers each group has."""
        rows = (await self.connection.execute(sa.select(timezones.c.name, timezones.c.providers))).all()
        groups: dict[tuple[date, int, int], list[str]] = defaultdict(list)
        sizes: dict[tuple[date, int, int], int] = defaultdict(int)
        for name, count in sorted(rows):
            moment = local_moment(name, instant)
            groups[moment].append(name)
            sizes[moment] += count
        return [Moment(moment, zones, sizes[moment]) for moment, zones in groups.items()]

    @staticmethod
    def _zone_of(column: Any, zones: list[str]) -> Any:
        return column == zones[0] if len(zones) == 1 else column.in_(zones)

    def _working_ids(self, zones: list[str], moment: tuple[date, int, int]) -> sa.Select[Any]:
        """Providers of `zones` whose weekly hours cover their local `moment` (one range of
        the hours index; blocked dates are checked with the page)."""
        w = schedule_windows
        _, weekday, minute = moment
        return sa.select(w.c.provider_id).where(
            self._zone_of(w.c.timezone, zones),
            w.c.weekday == weekday,
            w.c.start_minute <= minute,
            w.c.end_minute > minute,
        )

    def _free_at(self, moments: list[Moment], few: dict[str, list[int] | None]) -> list[list[Any]]:
        """Within weekly hours and not on a blocked date, in each provider's own zone.

        Zones that share the local moment form a group. Which plan suits a group is decided
        by counting (weekly hours cluster on a few patterns that fool column statistics):
        walking the group's ranking costs about PAGE_WALK × size / working rows, starting
        from the ids of who works costs one row each; the ids of every group where that is
        cheaper become one list, the other groups are each a branch read along the ranking
        from the row's quarter-hour map of the week, where matches come early.
        """
        p, b = providers, blocked_dates

        def not_blocked(day: date) -> Any:
            return ~sa.exists(
                sa.select(1).select_from(b).where(b.c.provider_id == p.c.user_id, b.c.day == day)
            )

        listed: dict[date, list[int]] = defaultdict(list)
        branches: list[list[Any]] = []
        for i, group in enumerate(moments):
            day, weekday, minute = group.moment
            ids = few[f"moment:{i}"]
            if ids is not None and len(ids) ** 2 <= PAGE_WALK * max(group.size, len(ids)):
                listed[day].extend(ids)
                continue
            branches.append(
                [
                    self._zone_of(p.c.timezone, group.zones),
                    # "_" for each earlier quarter hour, then "1": a LIKE pattern rather than
                    # substr(), as the planner estimates a pattern from its statistics.
                    p.c.week_slots.like("_" * slot_index(weekday, minute) + "1%"),
                    not_blocked(day),
                ]
            )
        quiet = [
            sa.and_(self._one_of(p.c.user_id, sorted(ids)), not_blocked(day))
            for day, ids in sorted(listed.items())
            if ids
        ]
        if quiet:
            branches.append([quiet[0] if len(quiet) == 1 else sa.or_(*quiet)])
        return branches or [[sa.false()]]

    def _cheapest(self, category_ids: list[int] | None, criteria: SearchCriteria) -> Any:
        """The provider's cheapest matching offer as one text column, "price:currency:id"
        (NULL without one), read with the ranked row: a page then needs no second statement."""
        o = offers
        text = (
            sa.cast(o.c.unit_price, sa.String) + ":" + o.c.currency + ":" + sa.cast(o.c.id, sa.String)
        )
        return (
            sa.select(text)
            .where(o.c.provider_id == providers.c.user_id, *self._offer_filter(criteria, category_ids))
            .order_by(o.c.unit_price, o.c.id)
            .limit(1)
            .correlate(providers)
            .scalar_subquery()
            .label("cheapest")
        )

    async def _ranked(
        self, criteria: SearchCriteria, *, offset: int, limit: int, with_offers: bool = False
    ) -> tuple[Ranked, dict[int, Any]]:
        """The ranked page and, when it came with them, each provider's hit columns (and
        with `with_offers`, their cheapest matching offer)."""
        p = providers
        if criteria.near is None:
            category_ids = await self._category_ids(criteria.category_id)
            plain = criteria.free_at is None and not criteria.tags and not criteria.exclude_provider_ids
            key = (
                self.dialect, replace(criteria, page=1),
                None if category_ids is None else tuple(category_ids), offset, limit, with_offers,
            )
            statement = _page_statements.get(key) if plain else None
            if statement is None:
                columns: tuple[Any, ...] = (p.c.user_id, p.c.rank_base, *HIT_COLUMNS)
                if with_offers:
                    columns = (*columns, self._cheapest(category_ids, criteria))
                branches = await self._conditions(criteria)
                statement = self._ordered(columns, branches, offset=offset, limit=limit)
                if plain:
                    if len(_page_statements) >= MAX_PAGE_STATEMENTS:
                        _page_statements.clear()
                    _page_statements[key] = statement
            rows = (await self.connection.execute(statement)).all()
            return [(r.user_id, score(r.rank_base), None) for r in rows], {r.user_id: r for r in rows}
        branches = await self._conditions(criteria)
        columns = (p.c.user_id, p.c.rank_base, p.c.lat, p.c.lon, p.c.service_radius_km, *HIT_COLUMNS)
        query = self._ordered(columns, branches, offset=0, limit=MAX_NEAR_CANDIDATES)
        point, radius = criteria.near, criteria.radius_km
        ranked: Ranked = []
        details: dict[int, Any] = {}
        for row in (await self.connection.execute(query)).all():
            distance = haversine_km(point.lat, point.lon, row.lat, row.lon)
            if distance > radius:
                continue
            if row.service_radius_km is not None and distance > row.service_radius_km:
                continue
            ranked.append((row.user_id, score(row.rank_base, distance, radius), distance))
            details[row.user_id] = row
        ranked.sort(key=lambda hit: (-hit[1], -hit[0]))
        return ranked[offset : offset + limit], details

    @staticmethod
    def _ordered(
        columns: tuple[Any, ...], branches: list[list[Any]], *, offset: int, limit: int
    ) -> sa.Select[Any]:
        """Rows in ranking order: one ordered query, or the ordered union of the branches
        (each branch is ranked and cut on its own, so each can use the ranking index)."""
        p = providers
        order = (p.c.rank_base.desc(), p.c.user_id.desc())
        if len(branches) == 1:
            return sa.select(*columns).where(*branches[0]).order_by(*order).offset(offset).limit(limit)
        parts = [
            sa.select(*columns).where(*branch).order_by(*order).limit(offset + limit).subquery()
            for branch in branches
        ]
        union = sa.union_all(*[sa.select(*part.c) for part in parts]).subquery("ranked")
        return (
            sa.select(*union.c)
            .order_by(union.c.rank_base.desc(), union.c.user_id.desc())
            .offset(offset)
            .limit(limit)
        )

    async def _hits(
        self, ranked: Ranked, details: dict[int, Any], criteria: SearchCriteria
    ) -> list[SearchHit]:
        if not ranked:
            return []
        ids = [provider_id for provider_id, _, _ in ranked]
        cheapest: dict[int, tuple[int, str, int]] = {}
        if "cheapest" in details[ids[0]]._fields:
            for provider_id in ids:
                if details[provider_id].cheapest:
                    price, currency, offer_id = details[provider_id].cheapest.split(":")
                    cheapest[provider_id] = (int(price), currency, int(offer_id))
        else:
            matching = sa.select(
                offers.c.id, offers.c.provider_id, offers.c.unit_price, offers.c.currency
            ).where(
                self._one_of(offers.c.provider_id, ids),
                *self._offer_filter(criteria, await self._category_ids(criteria.category_id)),
            )
            for offer_id, provider_id, price, currency in (await self.connection.execute(matching)).all():
                best = cheapest.get(provider_id)
                if best is None or (price, offer_id) < (best[0], best[2]):
                    cheapest[provider_id] = (price, currency, offer_id)
        hits = []
        for provider_id, rank_score, distance in ranked:
            row = details[provider_id]
            offer = cheapest.get(provider_id)
            hits.append(
                SearchHit(
                    provider_id=provider_id,
                    display_name=row.display_name,
                    tier=row.tier,
                    presence=Presence(row.presence),
                    rating_count=row.rating_count,
                    rating_average=row.rating_average,
                    tags=_tags_of(row.tag_list),
                    lowest_price=Money(offer[0], offer[1]) if offer else None,
                    offer_id=offer[2] if offer else None,
                    distance_km=round(distance, 3) if distance is not None else None,
                    score=round(rank_score, 6),
                )
            )
        return hits


REPOSITORIES = {
    "categories": SqlCategoryRepository,
    "providers": SqlProviderRepository,
    "offers": SqlOfferRepository,
    "availability": SqlAvailabilityRepository,
    "applications": SqlApplicationRepository,
    "venues": SqlVenueRepository,
    "favourites": SqlFavouriteRepository,
    "provider_search": SqlProviderSearch,
}
