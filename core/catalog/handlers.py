"""Command handlers of the catalog: categories, onboarding, providers, offers, venues, search.

Every decision writes an audit row (who, when, why); refusals raise DomainError before
anything is written, and the bus rolls back whatever a refused command had begun.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from core.catalog.availability import Schedule
from core.catalog.commands import (
    AddCategory,
    AddFavourite,
    AddVenue,
    ApproveApplication,
    EditCategory,
    EditVenue,
    GetApplication,
    GetProvider,
    GoOfflineIfIdle,
    ListApplications,
    ListCategories,
    ListFavourites,
    ListVenues,
    ProviderUnreachable,
    RecordProviderActivity,
    ReinstateProvider,
    RejectApplication,
    RemoveFavourite,
    RemoveOffer,
    SaveOffer,
    SearchProviders,
    SeedCatalog,
    SetAvailability,
    SetPresence,
    SubmitApplication,
    SuspendProvider,
    UpdateProfile,
)
from core.catalog.model import (
    CERTIFIED_KINDS,
    LOCAL_KINDS,
    Category,
    Offer,
    OfferDraft,
    Presence,
    PricingUnit,
    ProfileDraft,
    ProviderProfile,
    ServiceKind,
    Venue,
    check_commission,
    check_min_units,
    check_share,
    check_slug,
    check_text,
)
from core.catalog.onboarding import (
    MAX_DOCUMENTS,
    MAX_OFFERS,
    Application,
    DocumentKind,
    check_reason,
)
from core.catalog.search import SearchPage
from core.catalog.seed import DEFAULT_CATALOG
from core.identity.guards import acting_user, ensure_operator, ensure_self_or_operator
from core.identity.handlers import grant_role
from core.identity.model import Role
from core.messagebus import Handler
from core.ports import UnitOfWork
from core.shared.audit import AuditEntry
from core.shared.clock import Clock, ensure_utc
from core.shared.errors import DomainError, NotFound
from core.shared.messages import Command, Event

MAX_CATEGORY_NAME = 40
MAX_VENUE_NAME = 64
MAX_ADDRESS = 200
MAX_LISTING = 200
DEFAULT_IDLE_MINUTES = 30


@dataclass(frozen=True)
class SeedResult:
    created: tuple[str, ...]  # slugs added by this run
    existing: int  # default categories that were already there


@dataclass(frozen=True)
class ProviderDetails:
    profile: ProviderProfile
    offers: tuple[Offer, ...]
    schedule: Schedule
    # Whether the query's viewer has the provider among their favourites (False without one).
    favourite: bool = False


async def _audit(
    uow: UnitOfWork,
    entity: str,
    entity_id: int | str,
    action: str,
    actor_id: int | None,
    at: datetime,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    **data: Any,
) -> None:
    await uow.audit.add(
        AuditEntry(
            entity=entity,
            entity_id=str(entity_id),
            action=action,
            actor_id=actor_id,
            at=at,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            data=data,
        )
    )


def _kind(value: ServiceKind | str) -> ServiceKind:
    try:
        return ServiceKind(value)
    except ValueError:
        raise DomainError(
            "error.category.unknown_kind", kind=str(value), kinds=", ".join(k.value for k in ServiceKind)
        ) from None


def _pricing_unit(value: PricingUnit | str) -> PricingUnit:
    try:
        return PricingUnit(value)
    except ValueError:
        raise DomainError(
            "error.category.unknown_pricing_unit",
            unit=str(value),
            units=", ".join(u.value for u in PricingUnit),
        ) from None


def _presence(value: Presence | str) -> Presence:
    try:
        return Presence(value)
    except ValueError:
        raise DomainError(
            "error.provider.unknown_presence",
            presence=str(value),
            presences=", ".join(p.value for p in Presence),
        ) from None


def _category_name(value: str) -> str:
    return check_text(value, what="name", maximum=MAX_CATEGORY_NAME, required=True)


def tree_order(categories: list[Category]) -> list[Category]:
    """Parents before their children, siblings by sort order then id."""
    children: dict[int | None, list[Category]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category)
    known = {c.id for c in categories}
    ordered: list[Category] = []

    def walk(parent: int | None) -> None:
        for child in sorted(children.get(parent, []), key=lambda c: (c.sort_order, c.id)):
            ordered.append(child)
            walk(child.id)

    walk(None)
    # Children of a parent that is filtered out still get listed, after the tree.
    orphans = [c for c in categories if c.parent_id is not None and c.parent_id not in known]
    return ordered + sorted(orphans, key=lambda c: (c.sort_order, c.id))


# -- categories ----------------------------------------------------------------------------


async def seed_catalog(cmd: SeedCatalog, uow: UnitOfWork, clock: Clock) -> SeedResult:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    by_slug = {c.slug: c for c in await uow.categories.list()}
    created: list[str] = []
    for seed in DEFAULT_CATALOG:  # parents are listed before their children
        if seed.slug in by_slug:
            continue
        parent = by_slug[seed.parent_slug] if seed.parent_slug else None
        category = await uow.categories.add(
            Category(
                id=0,
                slug=seed.slug,
                parent_id=parent.id if parent else None,
                kind=seed.kind,
                pricing_unit=seed.pricing_unit,
                min_units=seed.min_units,
                commission_bps=seed.commission_bps,
                name_zh=seed.name_zh,
                name_en=seed.name_en,
                sort_order=len(by_slug),
            )
        )
        by_slug[seed.slug] = category
        created.append(seed.slug)
    if created:
        await _audit(uow, "catalog", "categories", "seed", cmd.actor_id, now, created=created)
    return SeedResult(created=tuple(created), existing=len(DEFAULT_CATALOG) - len(created))


async def add_category(cmd: AddCategory, uow: UnitOfWork, clock: Clock) -> Category:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    slug = check_slug(cmd.slug.strip().lower())
    if await uow.categories.find_by_slug(slug) is not None:
        raise DomainError("error.category.slug_taken", slug=slug)
    if cmd.parent_id is not None:
        try:
            await uow.categories.get(cmd.parent_id)
        except NotFound:
            raise DomainError("error.category.unknown_parent", parent_id=cmd.parent_id) from None
    category = await uow.categories.add(
        Category(
            id=0,
            slug=slug,
            parent_id=cmd.parent_id,
            kind=_kind(cmd.kind),
            pricing_unit=_pricing_unit(cmd.pricing_unit),
            min_units=check_min_units(cmd.min_units),
            commission_bps=check_commission(cmd.commission_bps),
            name_zh=_category_name(cmd.name_zh),
            name_en=_category_name(cmd.name_en),
            sort_order=cmd.sort_order,
        )
    )
    await _audit(uow, "category", category.id, "add", cmd.actor_id, now, slug=slug)
    return category


async def edit_category(cmd: EditCategory, uow: UnitOfWork, clock: Clock) -> Category:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    category = await uow.categories.get(cmd.category_id)
    changes: dict[str, Any] = {}
    if cmd.name_zh is not None:
        changes["name_zh"] = _category_name(cmd.name_zh)
    if cmd.name_en is not None:
        changes["name_en"] = _category_name(cmd.name_en)
    if cmd.pricing_unit is not None:
        changes["pricing_unit"] = _pricing_unit(cmd.pricing_unit)
    if cmd.min_units is not None:
        changes["min_units"] = check_min_units(cmd.min_units)
    if cmd.commission_bps is not None:
        changes["commission_bps"] = check_commission(cmd.commission_bps)
    if cmd.active is not None:
        changes["active"] = cmd.active
    if cmd.sort_order is not None:
        changes["sort_order"] = cmd.sort_order
    changes = {k: v for k, v in changes.items() if getattr(category, k) != v}
    if not changes:
        return category
    before = {k: _plain(getattr(category, k)) for k in changes}
    saved = await uow.categories.save(replace(category, **changes))
    await _audit(
        uow, "category", category.id, "edit", cmd.actor_id, now,
        before=before, after={k: _plain(v) for k, v in changes.items()},
    )
    return saved


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, ServiceKind | PricingUnit) else value


async def list_categories(cmd: ListCategories, uow: UnitOfWork) -> list[Category]:
    return tree_order(await uow.categories.list(include_inactive=cmd.include_inactive))


# -- onboarding ----------------------------------------------------------------------------


async def _validated_offers(
    uow: UnitOfWork, drafts: tuple[OfferDraft, ...]
) -> tuple[tuple[OfferDraft, ...], list[Category]]:
    if not drafts:
        raise DomainError("error.application.no_offers")
    if len(drafts) > MAX_OFFERS:
        raise DomainError("error.application.too_many_offers", maximum=MAX_OFFERS)
    seen: set[int] = set()
    offers: list[OfferDraft] = []
    categories: list[Category] = []
    for draft in drafts:
        if draft.category_id in seen:
            raise DomainError("error.application.duplicate_category", category_id=draft.category_id)
        seen.add(draft.category_id)
        category = await uow.categories.get(draft.category_id)
        offers.append(draft.validated(category))
        categories.append(category)
    return tuple(offers), categories


def _check_service_area(profile: ProfileDraft, categories: list[Category]) -> None:
    local = [c for c in categories if c.kind in LOCAL_KINDS]
    if local and (profile.location is None or profile.service_radius_km is None):
        raise DomainError("error.provider.service_area_required", slug=local[0].slug)


async def _check_venue(uow: UnitOfWork, venue_id: int | None) -> None:
    if venue_id is not None:
        venue = await uow.venues.get(venue_id)
        if not venue.active:
            raise DomainError("error.venue.inactive", venue_id=venue_id)


async def submit_application(cmd: SubmitApplication, uow: UnitOfWork, clock: Clock) -> Application:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.user_id, now)
    await acting_user(uow, cmd.user_id, now)  # exists, not banned
    pending = await uow.applications.pending_of(cmd.user_id)
    if pending is not None:
        raise DomainError("error.application.already_pending", application_id=pending.id)
    profile = cmd.profile.validated()
    offers, categories = await _validated_offers(uow, cmd.offers)
    _check_service_area(profile, categories)
    await _check_venue(uow, profile.venue_id)
    availability = cmd.availability.validated()
    if len(cmd.documents) > MAX_DOCUMENTS:
        raise DomainError("error.catalog.too_many_files", field="documents", maximum=MAX_DOCUMENTS)
    kinds = {d.kind for d in cmd.documents}
    if DocumentKind.ID_PHOTO not in kinds:
        raise DomainError("error.application.id_photo_required")
    certified = [c for c in categories if c.kind in CERTIFIED_KINDS]
    if certified and DocumentKind.CERTIFICATE not in kinds:
        raise DomainError("error.application.certificate_required", slug=certified[0].slug)
    application = Application(
        id=None,
        user_id=cmd.user_id,
        profile=profile,
        offers=offers,
        availability=availability,
        documents=cmd.documents,
        submitted_at=now,
    )
    await uow.applications.add(application)
    application.submitted()
    await _audit(
        uow, "application", application.id or 0, "submit", cmd.actor_id, now,
        to_state="pending", user_id=cmd.user_id, category_ids=list(application.category_ids),
    )
    return application


async def approve_application(
    cmd: ApproveApplication, uow: UnitOfWork, clock: Clock
) -> ProviderProfile:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    application = await uow.applications.get(cmd.application_id)
    application.approve(by=cmd.actor_id, at=now, reason=cmd.reason)
    # Categories may have changed since the application was sent: check the offers again.
    offers, _ = await _validated_offers(uow, application.offers)
    await _check_venue(uow, application.profile.venue_id)

    profile = await uow.providers.find(application.user_id)
    if profile is None:
        profile = ProviderProfile.from_draft(application.user_id, application.profile, tier=1, at=now)
        if cmd.tier is not None:
            profile.set_tier(cmd.tier)
        await uow.providers.add(profile)
    else:
        profile.apply(application.profile)
        if cmd.tier is not None:
            profile.set_tier(cmd.tier)
        await uow.providers.save(profile)

    kept = [(await uow.offers.upsert(profile.user_id, draft)).id for draft in offers]
    await uow.offers.deactivate_all_except(profile.user_id, kept)
    current = await uow.availability.schedule_of(profile.user_id)
    schedule = Schedule.of(profile.user_id, profile.timezone, application.availability)
    await uow.availability.save(replace(schedule, version=current.version))

    user = await uow.users.get(application.user_id)
    if not user.has_role(Role.PROVIDER):
        await grant_role(
            uow,
            user_id=user.id,
            role=Role.PROVIDER,
            actor_id=cmd.actor_id,
            at=now,
            reason=f"application {application.id} approved",
        )
    await uow.applications.save(application)
    await _audit(
        uow, "application", cmd.application_id, "approve", cmd.actor_id, now,
        from_state="pending", to_state="approved", reason=application.reason,
        user_id=application.user_id, tier=profile.tier,
    )
    return profile


async def reject_application(cmd: RejectApplication, uow: UnitOfWork, clock: Clock) -> Application:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    application = await uow.applications.get(cmd.application_id)
    application.reject(by=cmd.actor_id, at=now, reason=cmd.reason)
    await uow.applications.save(application)
    await _audit(
        uow, "application", cmd.application_id, "reject", cmd.actor_id, now,
        from_state="pending", to_state="rejected", reason=application.reason,
        user_id=application.user_id,
    )
    return application


async def list_applications(cmd: ListApplications, uow: UnitOfWork, clock: Clock) -> list[Application]:
    await ensure_operator(uow, cmd.actor_id, clock.now())
    return await uow.applications.list(cmd.status, limit=max(1, min(cmd.limit, MAX_LISTING)))


async def get_application(cmd: GetApplication, uow: UnitOfWork, clock: Clock) -> Application:
    application = await uow.applications.get(cmd.application_id)
    await ensure_self_or_operator(uow, cmd.actor_id, application.user_id, clock.now())
    return application


# -- providers -----------------------------------------------------------------------------


async def get_provider(cmd: GetProvider, uow: UnitOfWork) -> ProviderDetails:
    profile, offers, schedule, favourite = await uow.providers.read_details(
        cmd.provider_id, viewer_id=cmd.viewer_id
    )
    return ProviderDetails(profile=profile, offers=offers, schedule=schedule, favourite=favourite)


async def suspend_provider(cmd: SuspendProvider, uow: UnitOfWork, clock: Clock) -> ProviderProfile:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    reason = check_reason(cmd.reason, required=True)
    assert reason is not None
    profile = await uow.providers.get(cmd.provider_id)
    profile.suspend(reason=reason, by=cmd.actor_id, at=now)
    await uow.providers.save(profile)
    await _audit(
        uow, "provider", cmd.provider_id, "suspend", cmd.actor_id, now,
        from_state="approved", to_state="suspended", reason=reason,
    )
    return profile


async def reinstate_provider(cmd: ReinstateProvider, uow: UnitOfWork, clock: Clock) -> ProviderProfile:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    reason = check_reason(cmd.reason, required=False)
    profile = await uow.providers.get(cmd.provider_id)
    profile.reinstate(reason=reason, by=cmd.actor_id, at=now)
    await uow.providers.save(profile)
    await _audit(
        uow, "provider", cmd.provider_id, "reinstate", cmd.actor_id, now,
        from_state="suspended", to_state="approved", reason=reason,
    )
    return profile


async def set_presence(cmd: SetPresence, uow: UnitOfWork, clock: Clock) -> ProviderProfile:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, now)
    presence = _presence(cmd.presence)
    profile = await uow.providers.get(cmd.provider_id)
    profile.set_presence(presence, now)
    await uow.providers.save(profile)
    return profile


async def record_provider_activity(
    cmd: RecordProviderActivity, uow: UnitOfWork, clock: Clock
) -> None:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, now)
    profile = await uow.providers.get(cmd.provider_id)
    profile.touch(now)
    await uow.providers.save(profile)


async def provider_unreachable(cmd: ProviderUnreachable, uow: UnitOfWork, clock: Clock) -> bool:
    """Whether an online provider went offline (see `ProviderUnreachable`)."""
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, now)
    profile = await uow.providers.find(cmd.provider_id)
    if profile is None or profile.presence is not Presence.ONLINE:
        return False
    profile.set_presence(Presence.OFFLINE, now, automatic=True)
    await uow.providers.save(profile)
    return True


async def go_offline_if_idle(
    cmd: GoOfflineIfIdle, uow: UnitOfWork, clock: Clock, provider_idle_minutes: int = DEFAULT_IDLE_MINUTES
) -> int:
    """Take providers online but inactive for the idle limit offline; returns how many."""
    now = ensure_utc(cmd.now)
    await ensure_operator(uow, cmd.actor_id, clock.now())
    idle_after = timedelta(minutes=provider_idle_minutes)
    idle = await uow.providers.idle_online(now - idle_after, max(1, cmd.limit))
    for profile in idle:
        if profile.is_idle(now, idle_after):
            profile.set_presence(Presence.OFFLINE, now, automatic=True)
            await uow.providers.save(profile)
    return len(idle)


async def update_profile(cmd: UpdateProfile, uow: UnitOfWork, clock: Clock) -> ProviderProfile:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, now)
    draft = cmd.profile.validated()
    profile = await uow.providers.get(cmd.provider_id)
    offers = await uow.offers.for_provider(cmd.provider_id)
    _check_service_area(draft, [await uow.categories.get(o.category_id) for o in offers])
    if draft.venue_id != profile.venue_id:
        await _check_venue(uow, draft.venue_id)
    profile.apply(draft)
    await uow.providers.save(profile)
    await _audit(uow, "provider", cmd.provider_id, "update_profile", cmd.actor_id, now)
    return profile


async def save_offer(cmd: SaveOffer, uow: UnitOfWork, clock: Clock) -> Offer:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, now)
    profile = await uow.providers.get(cmd.provider_id)
    category = await uow.categories.get(cmd.offer.category_id)
    draft = cmd.offer.validated(category)
    _check_service_area(
        ProfileDraft(
            display_name=profile.display_name,
            location=profile.location,
            service_radius_km=profile.service_radius_km,
        ),
        [category],
    )
    offer = await uow.offers.upsert(cmd.provider_id, draft)
    await _audit(
        uow, "offer", offer.id, "save", cmd.actor_id, now,
        provider_id=cmd.provider_id, category_id=category.id,
        unit_price=draft.unit_price.amount, currency=draft.unit_price.currency,
    )
    return offer


async def remove_offer(cmd: RemoveOffer, uow: UnitOfWork, clock: Clock) -> None:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, now)
    offer = await uow.offers.get(cmd.offer_id)
    if offer.provider_id != cmd.provider_id:
        raise NotFound("error.offer.not_found", offer_id=cmd.offer_id)
    await uow.offers.deactivate(offer.id)
    await _audit(uow, "offer", offer.id, "remove", cmd.actor_id, now, provider_id=cmd.provider_id)


async def set_availability(cmd: SetAvailability, uow: UnitOfWork, clock: Clock) -> Schedule:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.provider_id, now)
    current = await uow.availability.schedule_of(cmd.provider_id)
    schedule = Schedule.of(cmd.provider_id, current.timezone, cmd.availability)
    saved = await uow.availability.save(replace(schedule, version=current.version))
    await _audit(
        uow, "provider", cmd.provider_id, "set_availability", cmd.actor_id, now,
        rules=[r.label() for r in saved.rules],
    )
    return saved


# -- venues and favourites -----------------------------------------------------------------


async def _ensure_venue_manager(uow: UnitOfWork, user_id: int, actor_id: int | None, at: datetime) -> None:
    user = await uow.users.get(user_id)
    if not user.has_role(Role.VENUE_MANAGER):
        await grant_role(
            uow, user_id=user_id, role=Role.VENUE_MANAGER, actor_id=actor_id, at=at,
            reason="manages a venue",
        )


async def add_venue(cmd: AddVenue, uow: UnitOfWork, clock: Clock) -> Venue:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    name = check_text(cmd.name, what="name", maximum=MAX_VENUE_NAME, required=True)
    address = check_text(cmd.address, what="address", maximum=MAX_ADDRESS, required=False)
    share = check_share(cmd.share_bps)
    await _ensure_venue_manager(uow, cmd.manager_user_id, cmd.actor_id, now)
    venue = await uow.venues.add(
        Venue(id=0, name=name, manager_user_id=cmd.manager_user_id, share_bps=share, address=address)
    )
    await _audit(
        uow, "venue", venue.id, "add", cmd.actor_id, now,
        manager_user_id=cmd.manager_user_id, share_bps=share,
    )
    return venue


async def edit_venue(cmd: EditVenue, uow: UnitOfWork, clock: Clock) -> Venue:
    now = clock.now()
    await ensure_operator(uow, cmd.actor_id, now)
    venue = await uow.venues.get(cmd.venue_id)
    changes: dict[str, Any] = {}
    if cmd.name is not None:
        changes["name"] = check_text(cmd.name, what="name", maximum=MAX_VENUE_NAME, required=True)
    if cmd.address is not None:
        changes["address"] = check_text(cmd.address, what="address", maximum=MAX_ADDRESS, required=False)
    if cmd.share_bps is not None:
        changes["share_bps"] = check_share(cmd.share_bps)
    if cmd.active is not None:
        changes["active"] = cmd.active
    if cmd.manager_user_id is not None and cmd.manager_user_id != venue.manager_user_id:
        await _ensure_venue_manager(uow, cmd.manager_user_id, cmd.actor_id, now)
        changes["manager_user_id"] = cmd.manager_user_id
    changes = {k: v for k, v in changes.items() if getattr(venue, k) != v}
    if not changes:
        return venue
    before = {k: getattr(venue, k) for k in changes}
    saved = await uow.venues.save(replace(venue, **changes))
    await _audit(uow, "venue", venue.id, "edit", cmd.actor_id, now, before=before, after=changes)
    return saved


async def list_venues(cmd: ListVenues, uow: UnitOfWork) -> list[Venue]:
    return await uow.venues.list()


async def add_favourite(cmd: AddFavourite, uow: UnitOfWork, clock: Clock) -> bool:
    now = clock.now()
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.customer_id, now)
    if cmd.customer_id == cmd.provider_id:
        raise DomainError("error.favourite.self")
    await uow.providers.get(cmd.provider_id)
    return await uow.favourites.add(cmd.customer_id, cmd.provider_id, now)


async def remove_favourite(cmd: RemoveFavourite, uow: UnitOfWork, clock: Clock) -> bool:
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.customer_id, clock.now())
    return await uow.favourites.remove(cmd.customer_id, cmd.provider_id)


async def list_favourites(cmd: ListFavourites, uow: UnitOfWork, clock: Clock) -> list[int]:
    await ensure_self_or_operator(uow, cmd.actor_id, cmd.customer_id, clock.now())
    return sorted(await uow.favourites.of_customer(cmd.customer_id))


# -- search --------------------------------------------------------------------------------


async def search_providers(cmd: SearchProviders, uow: UnitOfWork) -> SearchPage:
    criteria = cmd.criteria.validated()
    if criteria.category_id is not None:
        await uow.categories.get(criteria.category_id)
    return await uow.provider_search.search(criteria)


COMMAND_HANDLERS: dict[type[Command], Handler] = {
    SeedCatalog: seed_catalog,
    AddCategory: add_category,
    EditCategory: edit_category,
    ListCategories: list_categories,
    SubmitApplication: submit_application,
    ApproveApplication: approve_application,
    RejectApplication: reject_application,
    ListApplications: list_applications,
    GetApplication: get_application,
    GetProvider: get_provider,
    SuspendProvider: suspend_provider,
    ReinstateProvider: reinstate_provider,
    SetPresence: set_presence,
    RecordProviderActivity: record_provider_activity,
    GoOfflineIfIdle: go_offline_if_idle,
    ProviderUnreachable: provider_unreachable,
    UpdateProfile: update_profile,
    SaveOffer: save_offer,
    RemoveOffer: remove_offer,
    SetAvailability: set_availability,
    AddVenue: add_venue,
    EditVenue: edit_venue,
    ListVenues: list_venues,
    AddFavourite: add_favourite,
    RemoveFavourite: remove_favourite,
    ListFavourites: list_favourites,
    SearchProviders: search_providers,
}

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {}
