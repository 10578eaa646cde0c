"""Browsing (pages of providers, a provider's card) is served from a short-lived per-engine
cache: a repeated page or card reads nothing, a change made in this process shows on the next
read, another process's change once what was read before it ages out, and whether a viewer
saved a provider is told to that viewer alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from core.catalog.availability import AvailabilityPlan, WeeklyRule
from core.catalog.commands import (
    AddFavourite,
    ApproveApplication,
    GetProvider,
    ReinstateProvider,
    RemoveFavourite,
    SaveOffer,
    SearchProviders,
    SetAvailability,
    SetPresence,
    SuspendProvider,
    UpdateProfile,
)
from core.catalog.model import Category, OfferDraft, Presence, ProfileDraft
from core.catalog.ranking import bayesian_average
from core.catalog.search import SearchCriteria, SearchPage
from core.reviews.commands import ListProviderReviews
from core.shared.money import Money
from storage.db import create_engine
from storage.repositories.catalog import (
    BROWSE_CARD_SECONDS,
    BROWSE_PAGE_SECONDS,
    BrowseCache,
    use_browse_cache,
)
from storage.uow import unit_of_work_factory
from tests.fakes import ManualClock
from tests.integration.catalog.support import application, register, seeded
from tests.integration.statements import statements_on

PAGE = 2  # providers per page here (the bot shows more; the cache does not care)


@pytest.fixture
def ticking(engine: AsyncEngine) -> ManualClock:
    clock = ManualClock()
    use_browse_cache(engine, BrowseCache(clock=clock))
    return clock


@pytest.fixture
async def game(runtime: Runtime) -> Category:
    return (await seeded(runtime))["honor-of-kings"]


async def online_provider(runtime: Runtime, external_id: str, category: Category, **overrides: object) -> int:
    user_id = await register(runtime, external_id)
    submitted = await runtime.bus.handle(application(user_id, category, **overrides))  # type: ignore[arg-type]
    await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    await runtime.bus.handle(SetPresence(actor_id=user_id, provider_id=user_id, presence="online"))
    return user_id


@pytest.fixture
async def four(runtime: Runtime, game: Category, ticking: ManualClock) -> list[int]:
    """Four online providers of the game, so two pages of two."""
    return [await online_provider(runtime, f"20{i}", game, name=f"P{i}") for i in range(4)]


async def page(runtime: Runtime, category: Category, number: int = 1, **criteria: object) -> SearchPage:
    found: SearchPage = await runtime.bus.handle(SearchProviders(
        criteria=SearchCriteria(category_id=category.id, page=number, size=PAGE, **criteria)  # type: ignore[arg-type]
    ))
    return found


def dots(found: SearchPage) -> list[tuple[int, str]]:
    return [(hit.provider_id, hit.presence.value) for hit in found.hits]


async def card(runtime: Runtime, provider_id: int, viewer_id: int | None = None) -> tuple[str, str, bool]:
    details = await runtime.bus.handle(GetProvider(provider_id=provider_id, viewer_id=viewer_id))
    return details.profile.display_name, details.profile.presence.value, details.favourite


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SELECTs run meanwhile (a browse writes nothing)."""
    with statements_on(engine) as seen:
        selects: list[str] = []
        yield selects
        selects.extend(s for s in seen if s.lstrip().upper().startswith("SELECT"))


async def browse(runtime: Runtime, category: Category, provider_id: int, viewer_id: int) -> None:
    """What a customer does: page 1, page 2, a provider's card with its latest reviews."""
    await page(runtime, category, 1)
    await page(runtime, category, 2)
    await card(runtime, provider_id, viewer_id)
    await runtime.bus.handle(ListProviderReviews(provider_id=provider_id, limit=3))


@pytest.mark.parametrize("cached", [False, True])
async def test_a_browse_repeated_by_another_customer_reads_only_whether_they_saved_the_provider(
    runtime: Runtime, engine: AsyncEngine, game: Category, cached: bool
) -> None:
    pros = [await online_provider(runtime, f"20{i}", game, name=f"P{i}") for i in range(4)]
    ann, bob = await register(runtime, "1001"), await register(runtime, "1002")
    await page(runtime, game)  # the category snapshot is read once per engine, either way
    # Without the cache: one that keeps nothing (what browsing cost before it).
    use_browse_cache(engine, BrowseCache() if cached else BrowseCache(page_seconds=0, card_seconds=0))

    with counted(engine) as first:
        await browse(runtime, game, pros[0], ann)
    with counted(engine) as again:
        await browse(runtime, game, pros[0], bob)
    # Two pages, the card, its reviews; then, cached, only Bob's favourite (the reviews page
    # was cached before this change).
    assert len(first) == 4
    assert len(again) == (1 if cached else 3)
    if cached:
        assert "favourites" in again[0]


async def test_a_presence_change_made_here_shows_on_the_very_next_page_and_card(
    runtime: Runtime, engine: AsyncEngine, game: Category, four: list[int]
) -> None:
    best = (await page(runtime, game)).hits[0].provider_id
    assert (await card(runtime, best))[1] == "online"
    with counted(engine) as seen:
        assert dots(await page(runtime, game))[0] == (best, "online")
        assert (await card(runtime, best))[1] == "online"
    assert seen == []

    await runtime.bus.handle(SetPresence(actor_id=best, provider_id=best, presence="offline"))
    assert dots(await page(runtime, game))[0] == (best, "offline")
    assert best not in [h.provider_id for h in (await page(runtime, game, online_now=True)).hits]
    assert (await card(runtime, best))[1] == "offline"

    await runtime.bus.handle(SetPresence(actor_id=best, provider_id=best, presence="vacation"))
    assert best not in [h.provider_id for h in (await page(runtime, game)).hits]
    assert (await card(runtime, best))[1] == "vacation"


async def test_every_kind_of_provider_write_made_here_shows_on_the_next_read(
    runtime: Runtime, game: Category, four: list[int]
) -> None:
    pro = four[0]
    assert (await card(runtime, pro))[0] == "P0"
    await page(runtime, game)
    await page(runtime, game, price_max=Money(2000, "CNY"))
    await runtime.bus.handle(UpdateProfile(actor_id=pro, provider_id=pro, profile=ProfileDraft(
        display_name="Renamed", tags=frozenset({"lang:zh"}),
    )))
    assert (await card(runtime, pro))[0] == "Renamed"

    await runtime.bus.handle(SaveOffer(actor_id=pro, provider_id=pro, offer=OfferDraft(
        category_id=game.id, unit_price=Money(1234, "CNY"), min_units=1,
    )))
    details = await runtime.bus.handle(GetProvider(provider_id=pro))
    assert [o.unit_price.amount for o in details.offers] == [1234]
    hits = {h.provider_id: h for h in (await page(runtime, game, price_max=Money(2000, "CNY"))).hits}
    assert hits[pro].lowest_price == Money(1234, "CNY")

    await runtime.bus.handle(SetAvailability(actor_id=pro, provider_id=pro, availability=AvailabilityPlan(
        rules=(WeeklyRule.parse("sun 08:00-09:00"),),
    )))
    details = await runtime.bus.handle(GetProvider(provider_id=pro))
    assert [r.label() for r in details.schedule.rules] == ["sun 08:00-09:00"]

    async with runtime.uow_factory() as uow:
        await uow.providers.set_rating_stats(pro, 50, 5.0, bayesian_average(50, 5.0))
        await uow.commit()
    assert dots(await page(runtime, game))[0][0] == pro  # now ranked first
    assert (await runtime.bus.handle(GetProvider(provider_id=pro))).profile.rating_count == 50

    async with runtime.uow_factory() as uow:
        await uow.providers.set_service_stats(pro, 0.0, 86_400)
        await uow.commit()
    assert dots(await page(runtime, game))[0][0] != pro
    assert (await runtime.bus.handle(GetProvider(provider_id=pro))).profile.completion_rate == 0.0

    await runtime.bus.handle(SuspendProvider(provider_id=pro, reason="no-shows"))
    assert pro not in [h.provider_id for h in (await page(runtime, game)).hits]
    assert pro not in [h.provider_id for h in (await page(runtime, game, 2)).hits]
    assert (await runtime.bus.handle(GetProvider(provider_id=pro))).profile.status.value == "suspended"
    await runtime.bus.handle(ReinstateProvider(provider_id=pro))
    assert (await runtime.bus.handle(GetProvider(provider_id=pro))).profile.status.value == "approved"


async def test_another_process_s_change_shows_once_the_cached_page_and_card_age_out(
    runtime: Runtime, engine: AsyncEngine, game: Category, four: list[int], ticking: ManualClock,
    database_url: str,
) -> None:
    best = (await page(runtime, game)).hits[0].provider_id
    assert (await card(runtime, best))[1] == "online"

    other_engine = create_engine(database_url)  # another process: its own engine and cache
    try:
        elsewhere = bootstrap(
            Settings(_env_file=None, mode="demo", database_url=database_url),  # type: ignore[call-arg]
            clock=runtime.clock, engine=other_engine,
        )
        await elsewhere.bus.handle(SetPresence(actor_id=best, provider_id=best, presence="offline"))
    finally:
        await other_engine.dispose()

    ticking.now += min(BROWSE_PAGE_SECONDS, BROWSE_CARD_SECONDS) - 0.1
    with counted(engine) as seen:
        assert dots(await page(runtime, game))[0] == (best, "online")
        assert (await card(runtime, best))[1] == "online"
    assert seen == []
    ticking.now += 0.1
    assert dots(await page(runtime, game))[0] == (best, "offline")
    assert (await card(runtime, best))[1] == "offline"


async def test_a_read_while_a_write_may_still_commit_keeps_nothing_that_misses_it(
    runtime: Runtime, game: Category, four: list[int]
) -> None:
    best = (await page(runtime, game)).hits[0].provider_id
    async with runtime.uow_factory() as uow:
        profile = await uow.providers.get(best)
        profile.set_presence(Presence.OFFLINE, runtime.clock.now())
        await uow.providers.save(profile)
        # Customers browsing before it commits see the provider as they were...
        assert dots(await page(runtime, game))[0] == (best, "online")
        assert (await card(runtime, best))[1] == "online"
        await uow.commit()
    # ...and the first read after it sees the change.
    assert dots(await page(runtime, game))[0] == (best, "offline")
    assert (await card(runtime, best))[1] == "offline"

    # A write rolled back changes nothing, and what is read after it is kept as usual.
    async with runtime.uow_factory() as uow:
        profile = await uow.providers.get(best)
        profile.set_presence(Presence.ONLINE, runtime.clock.now())
        await uow.providers.save(profile)
    assert dots(await page(runtime, game))[0] == (best, "offline")
    assert (await card(runtime, best))[1] == "offline"


async def test_a_page_read_late_in_a_longer_read_keeps_nothing_it_may_have_missed(
    runtime: Runtime, engine: AsyncEngine, game: Category, four: list[int]
) -> None:
    best = (await page(runtime, game)).hits[0].provider_id
    async with unit_of_work_factory(engine, runtime.clock, read_only=True)() as reading:
        await reading.providers.read_details(four[-1])  # the read begins (SQLite: its snapshot)
        await runtime.bus.handle(SetPresence(actor_id=best, provider_id=best, presence="offline"))
        criteria = SearchCriteria(category_id=game.id, size=PAGE)
        await reading.provider_search.search(criteria)  # SQLite: as of the snapshot, online
    assert dots(await page(runtime, game))[0] == (best, "offline")
    assert (await card(runtime, best))[1] == "offline"


async def test_whether_a_provider_is_saved_is_told_to_each_viewer_alone(
    runtime: Runtime, engine: AsyncEngine, game: Category, four: list[int]
) -> None:
    pro = four[0]
    ann, bob = await register(runtime, "1001"), await register(runtime, "1002")
    assert (await card(runtime, pro, ann))[2] is False
    await runtime.bus.handle(AddFavourite(actor_id=ann, customer_id=ann, provider_id=pro))
    assert (await card(runtime, pro, ann))[2] is True
    assert (await card(runtime, pro, bob))[2] is False
    assert (await card(runtime, pro))[2] is False  # nobody's view
    with counted(engine) as seen:
        assert (await card(runtime, pro, ann))[2] is True
        assert (await card(runtime, pro, bob))[2] is False
    assert seen == []

    await runtime.bus.handle(AddFavourite(actor_id=bob, customer_id=bob, provider_id=pro))
    await runtime.bus.handle(RemoveFavourite(actor_id=ann, customer_id=ann, provider_id=pro))
    assert (await card(runtime, pro, ann))[2] is False
    assert (await card(runtime, pro, bob))[2] is True


def test_the_cache_holds_at_most_its_caps_whatever_is_asked() -> None:
    clock = ManualClock()
    cache = BrowseCache(max_pages=3, max_cards=2, max_favourites=2, clock=clock)
    for n in range(100):
        cache.pages.put(cache.pages.ticket(("page", n)), ("page", n), n)
        cache.cards.put(cache.cards.ticket(n), n, n)
        cache.favourites.put(cache.favourites.ticket((n, 1)), (n, 1), True)
    assert (len(cache.pages), len(cache.cards), len(cache.favourites)) == (3, 2, 2)
    assert cache.pages.get(("page", 99)) == (99,) and cache.pages.get(("page", 96)) is None
    # The least recently read goes first.
    assert cache.pages.get(("page", 97)) == (97,)
    cache.pages.put(cache.pages.ticket(("page", 100)), ("page", 100), 100)
    assert cache.pages.get(("page", 98)) is None and cache.pages.get(("page", 97)) == (97,)
    clock.now += BROWSE_PAGE_SECONDS
    assert cache.pages.get(("page", 97)) is None


class Writing:
    """A transaction as the cache sees it: under way until it ends."""

    is_active = True


def test_nothing_read_before_a_write_or_while_it_may_commit_is_kept() -> None:
    cache = BrowseCache(clock=ManualClock())
    page_before, card_before = cache.pages.ticket("page"), cache.cards.ticket(7)
    transaction = Writing()
    cache.provider_written(7, transaction)
    cache.pages.put(page_before, "page", "old")
    cache.cards.put(card_before, 7, "old")
    assert cache.pages.get("page") is None and cache.cards.get(7) is None
    assert cache.pages.ticket("page") is None and cache.cards.ticket(7) is None
    # Another provider's card is not held back by the write, only every page.
    cache.cards.put(cache.cards.ticket(8), 8, "eight")
    assert cache.cards.get(8) == ("eight",)
    transaction.is_active = False
    cache.pages.put(cache.pages.ticket("page"), "page", "new")
    cache.cards.put(cache.cards.ticket(7), 7, "new")
    assert cache.pages.get("page") == ("new",) and cache.cards.get(7) == ("new",)
