"""A provider's own day: presence and auto-offline, offers, hours, halls, customers' favourites."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.bootstrap import Runtime
from core.catalog.availability import AvailabilityPlan, WeeklyRule
from core.catalog.commands import (
    AddFavourite,
    AddVenue,
    ApproveApplication,
    EditVenue,
    GetProvider,
    GoOfflineIfIdle,
    ListFavourites,
    RecordProviderActivity,
    RemoveFavourite,
    RemoveOffer,
    SaveOffer,
    SetAvailability,
    SetPresence,
    UpdateProfile,
)
from core.catalog.events import ProviderPresenceChanged
from core.catalog.model import Category, OfferDraft, Presence, ProfileDraft
from core.identity.commands import GetUser
from core.shared.errors import DomainError, Forbidden, NotFound
from core.shared.money import Money
from tests.integration.catalog.support import (
    CERTIFIED,
    PEOPLE_SQUARE,
    application,
    register,
    seeded,
)


async def approved_provider(runtime: Runtime, external_id: str, category: Category, **overrides: object) -> int:
    user_id = await register(runtime, external_id)
    submitted = await runtime.bus.handle(application(user_id, category, **overrides))  # type: ignore[arg-type]
    await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    return user_id


async def test_an_idle_online_provider_is_taken_offline_and_told_why(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    idle = await approved_provider(runtime, "11", catalog["honor-of-kings"])
    active = await approved_provider(runtime, "12", catalog["honor-of-kings"])
    for provider_id in (idle, active):
        await runtime.bus.handle(SetPresence(actor_id=provider_id, provider_id=provider_id, presence="online"))

    runtime.clock.advance(timedelta(minutes=20))  # type: ignore[attr-defined]
    await runtime.bus.handle(RecordProviderActivity(actor_id=active, provider_id=active))
    runtime.clock.advance(timedelta(minutes=15))  # type: ignore[attr-defined]
    assert await runtime.bus.handle(GoOfflineIfIdle(now=runtime.clock.now())) == 1
    # Running the sweep again finds nobody new.
    assert await runtime.bus.handle(GoOfflineIfIdle(now=runtime.clock.now())) == 0

    idle_now = (await runtime.bus.handle(GetProvider(provider_id=idle))).profile
    active_now = (await runtime.bus.handle(GetProvider(provider_id=active))).profile
    assert (idle_now.presence, active_now.presence) == (Presence.OFFLINE, Presence.ONLINE)
    async with runtime.uow_factory() as uow:
        changes = [
            r.event for r in await uow.outbox.claim_batch(500) if isinstance(r.event, ProviderPresenceChanged)
        ]
    assert [(e.provider_id, e.to_presence, e.automatic) for e in changes][-1] == (idle, "offline", True)


async def test_presence_is_the_providers_own_business(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    provider_id = await approved_provider(runtime, "11", catalog["honor-of-kings"])
    stranger = await register(runtime, "99")
    with pytest.raises(Forbidden):
        await runtime.bus.handle(SetPresence(actor_id=stranger, provider_id=provider_id, presence="online"))
    with pytest.raises(DomainError) as unknown:
        await runtime.bus.handle(SetPresence(actor_id=provider_id, provider_id=provider_id, presence="asleep"))
    assert unknown.value.key == "error.provider.unknown_presence"
    profile = await runtime.bus.handle(SetPresence(actor_id=provider_id, provider_id=provider_id, presence="vacation"))
    assert profile.presence is Presence.VACATION


async def test_a_provider_edits_offers_and_a_bad_price_changes_nothing(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    provider_id = await approved_provider(runtime, "11", catalog["honor-of-kings"])
    pubg = await runtime.bus.handle(
        SaveOffer(
            actor_id=provider_id,
            provider_id=provider_id,
            offer=OfferDraft(category_id=catalog["pubg-mobile"].id, unit_price=Money(4500, "CNY")),
        )
    )
    with pytest.raises(DomainError) as absurd:
        await runtime.bus.handle(
            SaveOffer(
                actor_id=provider_id,
                provider_id=provider_id,
                offer=OfferDraft(category_id=catalog["pubg-mobile"].id, unit_price=Money(99_999_999, "CNY")),
            )
        )
    assert absurd.value.key == "error.offer.price_too_high"
    with pytest.raises(DomainError) as needs_area:
        await runtime.bus.handle(
            SaveOffer(
                actor_id=provider_id,
                provider_id=provider_id,
                offer=OfferDraft(category_id=catalog["home-repair"].id, unit_price=Money(9000, "CNY")),
            )
        )
    assert needs_area.value.key == "error.provider.service_area_required"
    offers = (await runtime.bus.handle(GetProvider(provider_id=provider_id))).offers
    assert {o.category_id: o.unit_price for o in offers}[pubg.category_id] == Money(4500, "CNY")

    await runtime.bus.handle(RemoveOffer(actor_id=provider_id, provider_id=provider_id, offer_id=pubg.id))
    offers = (await runtime.bus.handle(GetProvider(provider_id=provider_id))).offers
    assert pubg.id not in {o.id for o in offers}
    other = await approved_provider(runtime, "12", catalog["honor-of-kings"])
    with pytest.raises(NotFound):
        await runtime.bus.handle(RemoveOffer(actor_id=other, provider_id=other, offer_id=offers[0].id))


async def test_new_hours_replace_the_old_and_overlaps_are_refused(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    provider_id = await approved_provider(runtime, "11", catalog["honor-of-kings"])
    plan = AvailabilityPlan(rules=(WeeklyRule.parse("sat 10:00-22:00"),), buffer_minutes=30)
    saved = await runtime.bus.handle(SetAvailability(actor_id=provider_id, provider_id=provider_id, availability=plan))
    assert [r.label() for r in saved.rules] == ["sat 10:00-22:00"]
    overlapping = AvailabilityPlan(rules=(WeeklyRule.parse("sat 10:00-22:00"), WeeklyRule.parse("sat 21:00-23:00")))
    with pytest.raises(DomainError) as refused:
        await runtime.bus.handle(
            SetAvailability(actor_id=provider_id, provider_id=provider_id, availability=overlapping)
        )
    assert refused.value.key == "error.availability.overlapping_rules"
    schedule = (await runtime.bus.handle(GetProvider(provider_id=provider_id))).schedule
    assert ([r.label() for r in schedule.rules], schedule.buffer_minutes) == (["sat 10:00-22:00"], 30)


async def test_a_profile_update_changes_the_zone_the_hours_are_read_in(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    provider_id = await approved_provider(runtime, "11", catalog["honor-of-kings"])
    await runtime.bus.handle(
        UpdateProfile(
            actor_id=provider_id,
            provider_id=provider_id,
            profile=ProfileDraft(display_name="Rain", timezone="Europe/Berlin", tags=frozenset({"lang:de"})),
        )
    )
    details = await runtime.bus.handle(GetProvider(provider_id=provider_id))
    assert (details.profile.display_name, details.schedule.timezone) == ("Rain", "Europe/Berlin")
    assert details.profile.tags == frozenset({"lang:de"})
    with pytest.raises(DomainError) as refused:
        await runtime.bus.handle(
            UpdateProfile(
                actor_id=provider_id,
                provider_id=provider_id,
                profile=ProfileDraft(display_name="Rain", timezone="Europe/Atlantis"),
            )
        )
    assert refused.value.key == "error.catalog.invalid_timezone"


async def test_a_hall_gets_a_manager_and_a_share_and_coaches_can_belong_to_it(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    manager = await register(runtime, "70")
    with pytest.raises(DomainError) as bad_share:
        await runtime.bus.handle(AddVenue(name="星牌台球", manager_user_id=manager, share_bps=12_000))
    assert bad_share.value.key == "error.venue.invalid_share"
    venue = await runtime.bus.handle(AddVenue(name="星牌台球", manager_user_id=manager, share_bps=1500))
    assert "venue_manager" in (await runtime.bus.handle(GetUser(user_id=manager))).roles
    coach_id = await register(runtime, "71")
    submitted = await runtime.bus.handle(
        application(coach_id, catalog["billiards-snooker"], documents=CERTIFIED, venue_id=venue.id)
    )
    profile = await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    assert profile.venue_id == venue.id
    closed = await runtime.bus.handle(EditVenue(venue_id=venue.id, active=False))
    assert closed.active is False
    with pytest.raises(DomainError) as unknown:
        await runtime.bus.handle(EditVenue(venue_id=9999, share_bps=10))
    assert unknown.value.key == "error.venue.not_found"


async def test_customers_keep_favourites(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    provider_id = await approved_provider(
        runtime, "11", catalog["home-cleaning"], location=PEOPLE_SQUARE, radius_km=5, documents=CERTIFIED
    )
    customer = await register(runtime, "80")
    assert await runtime.bus.handle(AddFavourite(actor_id=customer, customer_id=customer, provider_id=provider_id))
    assert not await runtime.bus.handle(AddFavourite(actor_id=customer, customer_id=customer, provider_id=provider_id))
    assert await runtime.bus.handle(ListFavourites(actor_id=customer, customer_id=customer)) == [provider_id]
    async with runtime.uow_factory() as uow:
        assert await uow.favourites.of_customer(customer) == {provider_id}
    with pytest.raises(DomainError) as self_love:
        await runtime.bus.handle(AddFavourite(actor_id=provider_id, customer_id=provider_id, provider_id=provider_id))
    assert self_love.value.key == "error.favourite.self"
    with pytest.raises(NotFound):
        await runtime.bus.handle(AddFavourite(actor_id=customer, customer_id=customer, provider_id=123_456))
    await runtime.bus.handle(RemoveFavourite(actor_id=customer, customer_id=customer, provider_id=provider_id))
    assert await runtime.bus.handle(ListFavourites(actor_id=customer, customer_id=customer)) == []


async def test_a_provider_read_for_showing_is_what_each_table_says(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    blocked = frozenset({date(2030, 1, 2), date(2030, 2, 3)})
    provider_id = await approved_provider(runtime, "11", catalog["honor-of-kings"], blocked=blocked)
    await runtime.bus.handle(SaveOffer(
        actor_id=provider_id, provider_id=provider_id,
        offer=OfferDraft(category_id=catalog["pubg-mobile"].id, unit_price=Money(4500, "CNY"),
                         min_units=2, description="双排 \"上分\", 包赢"),
    ))
    without_hours = await approved_provider(runtime, "12", catalog["honor-of-kings"])

    for user_id in (provider_id, without_hours):
        shown = await runtime.bus.handle(GetProvider(provider_id=user_id))
        async with runtime.uow_factory() as uow:
            profile = await uow.providers.get(user_id)
            offers = tuple(await uow.offers.for_provider(user_id))
            schedule = await uow.availability.schedule_of(user_id)
        assert shown.profile == profile
        assert shown.offers == offers and len(offers) == (2 if user_id == provider_id else 1)
        assert shown.schedule == schedule
    assert (await runtime.bus.handle(GetProvider(provider_id=provider_id))).schedule.blocked_dates == blocked
    with pytest.raises(NotFound):
        await runtime.bus.handle(GetProvider(provider_id=999_999))


async def test_a_provider_read_for_a_viewer_says_whether_they_saved_them(runtime: Runtime) -> None:
    catalog = await seeded(runtime)
    provider_id = await approved_provider(runtime, "11", catalog["honor-of-kings"])
    customer = await register(runtime, "21")

    async def saved() -> bool:
        return bool((await runtime.bus.handle(GetProvider(provider_id=provider_id, viewer_id=customer))).favourite)

    assert not await saved()
    await runtime.bus.handle(AddFavourite(customer_id=customer, provider_id=provider_id, actor_id=customer))
    assert await saved()
    assert not (await runtime.bus.handle(GetProvider(provider_id=provider_id))).favourite
    await runtime.bus.handle(RemoveFavourite(customer_id=customer, provider_id=provider_id, actor_id=customer))
    assert not await saved()
