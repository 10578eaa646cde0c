"""Provider search: every filter keeps out the provider it should, ranking and pages hold."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.bootstrap import Runtime
from core.catalog.availability import AvailabilityPlan, Schedule, WeeklyRule
from core.catalog.commands import SearchProviders
from core.catalog.model import Category, GeoPoint, OfferDraft, Presence, ProviderProfile
from core.catalog.ranking import bayesian_average
from core.catalog.search import SearchCriteria, SearchPage
from core.shared.errors import DomainError
from core.shared.money import Money
from storage.repositories import catalog as catalog_storage
from tests.integration.catalog.support import PEOPLE_SQUARE, seeded

MONDAY = date(2026, 1, 5)


def shanghai(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))


def east_of(point: GeoPoint, km: float) -> GeoPoint:
    # One degree of longitude at this latitude is about 95 km.
    return GeoPoint(point.lat, point.lon + km / (111.195 * 0.8554))


async def provider(
    runtime: Runtime,
    user_id: int,
    category: Category,
    *,
    price: int = 5000,
    currency: str = "CNY",
    tier: int = 1,
    tags: frozenset[str] = frozenset(),
    presence: Presence = Presence.OFFLINE,
    location: GeoPoint | None = None,
    radius_km: int | None = None,
    rating: tuple[int, float] = (0, 0.0),
    completion: float = 1.0,
    response_s: int = 300,
    rules: tuple[str, ...] = ("mon 09:00-18:00",),
    blocked: frozenset[date] = frozenset(),
    timezone: str = "Asia/Shanghai",
) -> int:
    async with runtime.uow_factory() as uow:
        profile = ProviderProfile(
            user_id=user_id,
            display_name=f"p{user_id}",
            tier=tier,
            tags=tags,
            presence=presence,
            location=location,
            service_radius_km=radius_km,
            timezone=timezone,
            approved_at=runtime.clock.now(),
        )
        await uow.providers.add(profile)
        await uow.offers.upsert(
            user_id,
            OfferDraft(category_id=category.id, unit_price=Money(price, currency), min_units=category.min_units),
        )
        await uow.availability.save(
            Schedule.of(
                user_id,
                timezone,
                AvailabilityPlan(rules=tuple(WeeklyRule.parse(r) for r in rules), blocked_dates=blocked),
            )
        )
        count, average = rating
        await uow.providers.set_rating_stats(user_id, count, average, bayesian_average(count, average))
        await uow.providers.set_service_stats(user_id, completion, response_s)
        await uow.commit()
    return user_id


async def search(runtime: Runtime, **criteria: object) -> SearchPage:
    return await runtime.bus.handle(SearchProviders(criteria=SearchCriteria(**criteria)))  # type: ignore[arg-type]


async def ids(runtime: Runtime, **criteria: object) -> list[int]:
    return [hit.provider_id for hit in (await search(runtime, **criteria)).hits]


@pytest.fixture
async def catalog(runtime: Runtime) -> dict[str, Category]:
    return await seeded(runtime)


async def test_a_category_includes_its_sub_categories_and_nothing_else(
    runtime: Runtime, catalog: dict[str, Category]
) -> None:
    gamer = await provider(runtime, 1, catalog["honor-of-kings"])
    cleaner = await provider(runtime, 2, catalog["home-cleaning"], location=PEOPLE_SQUARE, radius_km=10)
    assert await ids(runtime, category_id=catalog["games"].id) == [gamer]
    assert await ids(runtime, category_id=catalog["honor-of-kings"].id) == [gamer]
    assert await ids(runtime, category_id=catalog["home-services"].id) == [cleaner]
    assert sorted(await ids(runtime)) == [gamer, cleaner]


async def test_price_range_compares_unit_prices_in_one_currency(
    runtime: Runtime, catalog: dict[str, Category]
) -> None:
    cheap = await provider(runtime, 1, catalog["honor-of-kings"], price=3000)
    dear = await provider(runtime, 2, catalog["honor-of-kings"], price=8000)
    await provider(runtime, 3, catalog["honor-of-kings"], price=3000, currency="USD")
    assert await ids(runtime, price_max=Money(5000, "CNY")) == [cheap]
    assert await ids(runtime, price_min=Money(5000, "CNY")) == [dear]
    page = await search(runtime, price_min=Money(1000, "CNY"), price_max=Money(3000, "CNY"))
    assert [(h.provider_id, h.lowest_price) for h in page.hits] == [(cheap, Money(3000, "CNY"))]


async def test_minimum_rating_and_tier(runtime: Runtime, catalog: dict[str, Category]) -> None:
    loved = await provider(runtime, 1, catalog["honor-of-kings"], rating=(20, 4.8), tier=3)
    meh = await provider(runtime, 2, catalog["honor-of-kings"], rating=(20, 3.9), tier=1)
    assert await ids(runtime, min_rating=4.5) == [loved]
    assert await ids(runtime, tier_min=2) == [loved]
    assert sorted(await ids(runtime, min_rating=3.0)) == [loved, meh]


@pytest.fixture(params=["id_lists", "row_checks"])
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the search checks a tag or working hours: from a short list of ids, or row
    by row while walking the ranking (what it does when many providers match)."""
    if request.param == "row_checks":
        monkeypatch.setattr(catalog_storage, "FEW_IDS", 0)
    return str(request.param)


async def test_every_tag_asked_for_must_be_present(
    runtime: Runtime, catalog: dict[str, Category], plan: str
) -> None:
    both = await provider(runtime, 1, catalog["honor-of-kings"], tags=frozenset({"lang:en", "gender:female"}))
    await provider(runtime, 2, catalog["honor-of-kings"], tags=frozenset({"lang:en"}))
    await provider(runtime, 3, catalog["honor-of-kings"])
    assert await ids(runtime, tags=frozenset({"LANG:EN", "gender:female"})) == [both]
    assert len(await ids(runtime, tags=frozenset({"lang:en"}))) == 2


async def test_online_now_and_who_never_shows(runtime: Runtime, catalog: dict[str, Category]) -> None:
    online = await provider(runtime, 1, catalog["honor-of-kings"], presence=Presence.ONLINE)
    offline = await provider(runtime, 2, catalog["honor-of-kings"], presence=Presence.OFFLINE)
    await provider(runtime, 3, catalog["honor-of-kings"], presence=Presence.VACATION)
    suspended = await provider(runtime, 4, catalog["honor-of-kings"], presence=Presence.ONLINE)
    async with runtime.uow_factory() as uow:
        profile = await uow.providers.get(suspended)
        profile.suspend(reason="no-shows", by=None, at=runtime.clock.now())
        await uow.providers.save(profile)
        await uow.commit()
    assert await ids(runtime, online_now=True) == [online]
    assert sorted(await ids(runtime)) == [online, offline]


async def test_free_at_uses_each_providers_zone_hours_and_blocked_dates(
    runtime: Runtime, catalog: dict[str, Category], plan: str
) -> None:
    day = await provider(runtime, 1, catalog["honor-of-kings"], rules=("mon 09:00-18:00",))
    await provider(runtime, 2, catalog["honor-of-kings"], rules=("mon 20:00-23:00",))
    await provider(runtime, 3, catalog["honor-of-kings"], rules=("mon 09:00-18:00",), blocked=frozenset({MONDAY}))
    london = await provider(
        runtime, 4, catalog["honor-of-kings"], rules=("mon 09:00-18:00",), timezone="Europe/London"
    )
    night_owl = await provider(runtime, 5, catalog["honor-of-kings"], rules=("sun 22:00-02:00",))
    assert await ids(runtime, free_at=shanghai(10)) == [day]
    # 18:00 in Shanghai is 10:00 in London: the Shanghai day shift has just ended.
    assert await ids(runtime, free_at=shanghai(18)) == [london]
    # An overnight rule covers the small hours of the next day.
    assert await ids(runtime, free_at=shanghai(1, 30)) == [night_owl]
    # Nobody works at 04:00 in Shanghai (23:00 the day before in London).
    assert await ids(runtime, free_at=shanghai(4)) == []


async def test_a_provider_who_moves_zone_is_free_by_the_new_zones_clock(
    runtime: Runtime, catalog: dict[str, Category], plan: str
) -> None:
    mover = await provider(runtime, 1, catalog["honor-of-kings"], rules=("mon 09:00-18:00",))
    assert await ids(runtime, free_at=shanghai(10)) == [mover]
    async with runtime.uow_factory() as uow:
        profile = await uow.providers.get(mover)
        profile.timezone = "Europe/London"
        await uow.providers.save(profile)
        await uow.commit()
    assert await ids(runtime, free_at=shanghai(10)) == []  # 02:00 in London
    assert await ids(runtime, free_at=shanghai(18)) == [mover]  # 10:00 in London


async def test_near_a_point_within_the_radius_and_the_providers_own_service_area(
    runtime: Runtime, catalog: dict[str, Category]
) -> None:
    cleaning = catalog["home-cleaning"]
    here = await provider(runtime, 1, cleaning, location=PEOPLE_SQUARE, radius_km=10)
    near = await provider(runtime, 2, cleaning, location=east_of(PEOPLE_SQUARE, 5), radius_km=10)
    await provider(runtime, 3, cleaning, location=east_of(PEOPLE_SQUARE, 20), radius_km=50)
    await provider(runtime, 4, cleaning, location=east_of(PEOPLE_SQUARE, 3), radius_km=1)
    await provider(runtime, 5, catalog["honor-of-kings"])  # no location at all
    page = await search(runtime, near=PEOPLE_SQUARE, radius_km=10)
    assert [h.provider_id for h in page.hits] == [here, near]
    assert page.hits[0].distance_km == pytest.approx(0.0, abs=0.01)
    assert page.hits[1].distance_km == pytest.approx(5.0, rel=0.02)


async def test_ranking_puts_better_providers_first_and_pages_do_not_overlap(
    runtime: Runtime, catalog: dict[str, Category]
) -> None:
    game = catalog["honor-of-kings"]
    star = await provider(runtime, 1, game, rating=(200, 4.95), completion=0.99, response_s=30)
    good = await provider(runtime, 2, game, rating=(50, 4.6), completion=0.95, response_s=120)
    newcomer = await provider(runtime, 3, game)
    weak = await provider(runtime, 4, game, rating=(40, 3.2), completion=0.7, response_s=1800)
    first = await search(runtime, size=2)
    second = await search(runtime, size=2, page=2)
    third = await search(runtime, size=2, page=3)
    assert [h.provider_id for h in first.hits] == [star, good]
    assert [h.provider_id for h in second.hits] == [newcomer, weak]
    assert (first.has_more, second.has_more, third.hits, third.has_more) == (True, False, (), False)
    assert first.hits[0].score > first.hits[1].score > second.hits[0].score > second.hits[1].score


async def test_new_ratings_move_a_provider_up(runtime: Runtime, catalog: dict[str, Category]) -> None:
    game = catalog["honor-of-kings"]
    a = await provider(runtime, 1, game, rating=(10, 4.5))
    b = await provider(runtime, 2, game, rating=(10, 4.4))
    assert await ids(runtime) == [a, b]
    async with runtime.uow_factory() as uow:
        await uow.providers.set_rating_stats(b, 100, 4.9, bayesian_average(100, 4.9))
        await uow.commit()
    assert await ids(runtime) == [b, a]


async def test_excluded_providers_and_qualified_for_open_orders(
    runtime: Runtime, catalog: dict[str, Category]
) -> None:
    cleaning = catalog["home-cleaning"]
    a = await provider(runtime, 1, cleaning, location=PEOPLE_SQUARE, radius_km=10, tier=3, tags=frozenset({"eco"}))
    b = await provider(runtime, 2, cleaning, location=east_of(PEOPLE_SQUARE, 2), radius_km=10, tier=3, tags=frozenset({"eco"}))
    await provider(runtime, 3, cleaning, location=PEOPLE_SQUARE, radius_km=10, tier=1, tags=frozenset({"eco"}))
    await provider(runtime, 4, cleaning, location=east_of(PEOPLE_SQUARE, 30), radius_km=10, tier=3, tags=frozenset({"eco"}))
    await provider(runtime, 5, catalog["honor-of-kings"], tier=3, tags=frozenset({"eco"}))
    assert await ids(runtime, category_id=cleaning.id, exclude_provider_ids=frozenset({a})) != []
    assert a not in await ids(runtime, category_id=cleaning.id, exclude_provider_ids=frozenset({a}))
    async with runtime.uow_factory() as uow:
        qualified = await uow.provider_search.qualified_for(
            cleaning.id, frozenset({"eco"}), 2, PEOPLE_SQUARE, shanghai(10)
        )
        after_hours = await uow.provider_search.qualified_for(
            cleaning.id, frozenset({"eco"}), 2, PEOPLE_SQUARE, shanghai(20)
        )
    assert qualified == [a, b]
    assert after_hours == []


BAD_SEARCHES: list[tuple[dict[str, object], str]] = [
    ({"page": 0}, "error.search.invalid_page"),
    ({"size": 500}, "error.search.invalid_page"),
    ({"price_min": Money(5000, "CNY"), "price_max": Money(100, "CNY")}, "error.search.invalid_price_range"),
    ({"price_min": Money(5000, "CNY"), "price_max": Money(9000, "USD")}, "error.search.invalid_price_range"),
    ({"min_rating": 7.0}, "error.search.invalid_rating"),
    ({"tier_min": 9}, "error.provider.invalid_tier"),
    ({"near": PEOPLE_SQUARE, "radius_km": 0.0}, "error.search.invalid_radius"),
    ({"free_at": datetime(2026, 1, 5, 10)}, "error.search.naive_time"),
    ({"category_id": 999_999}, "error.category.not_found"),
]


async def test_bad_searches_are_refused(runtime: Runtime, catalog: dict[str, Category]) -> None:
    for criteria, key in BAD_SEARCHES:
        with pytest.raises(DomainError) as refused:
            await search(runtime, **criteria)
        assert refused.value.key == key, criteria
