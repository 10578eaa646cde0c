"""A provider card's latest reviews come from a short-lived per-engine cache: a second view reads
no review, a review written, edited or answered in this process shows on the next view, and a
review written elsewhere shows once the cached page ages out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from core.identity.model import User
from core.reviews.commands import EditReview, ListProviderReviews, ReplyToReview, ReviewPage
from core.shared.clock import FixedClock
from storage.db import create_engine
from storage.repositories.reviews import LatestReviews, use_latest_reviews
from tests.fakes import ManualClock
from tests.integration.identity.helpers import register
from tests.integration.reviews.test_reviews import complete_order, review
from tests.integration.statements import statements_on

CARD = 3  # the card shows this many (bots.telegram.handlers.customer.browse.LATEST_REVIEWS)


@pytest.fixture
def ticking(engine: AsyncEngine) -> ManualClock:
    clock = ManualClock()
    use_latest_reviews(engine, LatestReviews(seconds=30.0, clock=clock))
    return clock


@pytest.fixture
async def people(runtime: Runtime, ticking: ManualClock) -> tuple[User, User, User, User]:
    ann = await register(runtime, "1001", name="Ann")
    bob = await register(runtime, "1002", name="Bob")
    pro = await register(runtime, "2001", name="Pro")
    mei = await register(runtime, "2002", name="Mei")
    for order_id, customer, provider in ((7, ann, pro), (8, bob, pro), (9, ann, mei), (10, bob, mei)):
        await complete_order(runtime, order_id, customer, provider)
    return ann, bob, pro, mei


async def card(runtime: Runtime, provider: User) -> ReviewPage:
    page: ReviewPage = await runtime.bus.handle(ListProviderReviews(provider_id=provider.id, limit=CARD))
    return page


async def review_statements(runtime: Runtime, engine: AsyncEngine, provider: User) -> tuple[ReviewPage, int]:
    with statements_on(engine) as seen:
        page = await card(runtime, provider)
    return page, sum(1 for s in seen if "FROM reviews" in s)


def shown(page: ReviewPage) -> list[tuple[int, str, str | None, str | None]]:
    return [(r.rating, r.text, r.reviewer_name, r.reply_text) for r in page.reviews]


async def test_a_second_view_of_a_card_reads_no_review(
    runtime: Runtime, engine: AsyncEngine, people: tuple[User, ...]
) -> None:
    ann, _, pro, mei = people
    await runtime.bus.handle(review(7, ann, 4, text="steady"))
    first, read = await review_statements(runtime, engine, pro)
    assert read == 1 and shown(first) == [(4, "steady", "Ann", None)] and first.total == 1
    again, read_again = await review_statements(runtime, engine, pro)
    assert read_again == 0
    assert again == first
    # A provider nobody reviewed yet: the empty page is kept too, and costs no statement at all.
    await card(runtime, mei)
    with statements_on(engine) as seen:
        empty = await card(runtime, mei)
    assert empty.reviews == () and empty.total == 0 and seen == []


async def test_a_review_written_edited_or_answered_here_shows_on_the_next_view(
    runtime: Runtime, people: tuple[User, ...], clock: FixedClock
) -> None:
    ann, bob, pro, _ = people
    await runtime.bus.handle(review(7, ann, 3, text="late"))
    assert shown(await card(runtime, pro)) == [(3, "late", "Ann", None)]

    clock.advance(timedelta(minutes=1))
    await runtime.bus.handle(review(8, bob, 5, text="great"))
    page = await card(runtime, pro)
    assert page.total == 2 and shown(page) == [(5, "great", "Bob", None), (3, "late", "Ann", None)]

    await runtime.bus.handle(EditReview(order_id=7, reviewer_id=ann.id, rating=4, text="late, but fun"))
    assert shown(await card(runtime, pro))[1] == (4, "late, but fun", "Ann", None)

    written = (await card(runtime, pro)).reviews[1]
    await runtime.bus.handle(ReplyToReview(review_id=written.id, provider_id=pro.id, text="Sorry!"))
    assert shown(await card(runtime, pro))[1] == (4, "late, but fun", "Ann", "Sorry!")


async def test_a_review_made_anonymous_stops_naming_its_writer_at_once(
    runtime: Runtime, people: tuple[User, ...]
) -> None:
    ann, _, pro, _ = people
    await runtime.bus.handle(review(7, ann, 5, text="fun"))
    assert shown(await card(runtime, pro)) == [(5, "fun", "Ann", None)]
    await runtime.bus.handle(
        EditReview(order_id=7, reviewer_id=ann.id, rating=5, text="fun", anonymous=True)
    )
    (now_shown,) = (await card(runtime, pro)).reviews
    assert now_shown.reviewer_name is None and now_shown.reviewer_id is None


async def test_a_cached_page_ages_out_and_then_shows_another_process_s_review(
    runtime: Runtime, engine: AsyncEngine, people: tuple[User, ...], ticking: ManualClock,
    database_url: str, clock: FixedClock,
) -> None:
    ann, bob, pro, _ = people
    await runtime.bus.handle(review(7, ann, 4, text="steady"))
    assert shown(await card(runtime, pro)) == [(4, "steady", "Ann", None)]

    other_engine = create_engine(database_url)  # another process: its own engine and cache
    try:
        elsewhere = bootstrap(
            Settings(_env_file=None, mode="demo", database_url=database_url),  # type: ignore[call-arg]
            clock=clock, engine=other_engine,
        )
        await elsewhere.bus.handle(review(8, bob, 1, text="no show"))
    finally:
        await other_engine.dispose()

    ticking.now += 29.0
    page, read = await review_statements(runtime, engine, pro)
    assert read == 0 and page.total == 1 and shown(page) == [(4, "steady", "Ann", None)]
    ticking.now += 1.0
    page, read = await review_statements(runtime, engine, pro)
    assert read == 1 and page.total == 2
    assert shown(page) == [(1, "no show", "Bob", None), (4, "steady", "Ann", None)]


async def test_each_provider_s_page_is_their_own_and_a_write_drops_only_theirs(
    runtime: Runtime, engine: AsyncEngine, people: tuple[User, ...]
) -> None:
    ann, bob, pro, mei = people
    await runtime.bus.handle(review(7, ann, 5, text="for Pro"))
    await runtime.bus.handle(review(10, bob, 2, text="for Mei"))
    assert shown(await card(runtime, pro)) == [(5, "for Pro", "Ann", None)]
    assert shown(await card(runtime, mei)) == [(2, "for Mei", "Bob", None)]

    await runtime.bus.handle(review(9, ann, 3, text="Mei again"))
    pro_page, pro_read = await review_statements(runtime, engine, pro)
    mei_page, mei_read = await review_statements(runtime, engine, mei)
    assert pro_read == 0 and shown(pro_page) == [(5, "for Pro", "Ann", None)]
    assert mei_read == 1 and mei_page.total == 2
    assert sorted(r.text for r in mei_page.reviews) == ["Mei again", "for Mei"]
    assert {r.reviewee_id for r in pro_page.reviews} == {pro.id}
    assert {r.reviewee_id for r in mei_page.reviews} == {mei.id}


async def test_a_view_while_a_reply_is_being_written_keeps_no_page_that_misses_it(
    runtime: Runtime, people: tuple[User, ...], clock: FixedClock
) -> None:
    ann, _, pro, _ = people
    written = await runtime.bus.handle(review(7, ann, 4, text="ok"))
    async with runtime.uow_factory() as uow:
        answered = await uow.reviews.get(written.id)
        answered.reply(provider_id=pro.id, text="Thanks", now=clock.now())
        await uow.reviews.save(answered)
        # Another customer opens the card before the reply commits: they see it without.
        assert shown(await card(runtime, pro)) == [(4, "ok", "Ann", None)]
        await uow.commit()
    assert shown(await card(runtime, pro)) == [(4, "ok", "Ann", "Thanks")]


async def test_other_pages_and_sizes_are_read_as_asked(
    runtime: Runtime, engine: AsyncEngine, people: tuple[User, ...], clock: FixedClock
) -> None:
    ann, bob, pro, _ = people
    await runtime.bus.handle(review(7, ann, 3, text="first"))
    clock.advance(timedelta(minutes=1))
    await runtime.bus.handle(review(8, bob, 5, text="second"))
    assert [r.text for r in (await card(runtime, pro)).reviews] == ["second", "first"]
    one = await runtime.bus.handle(ListProviderReviews(provider_id=pro.id, limit=1))
    assert [r.text for r in one.reviews] == ["second"] and one.total == 2
    with statements_on(engine) as seen:
        later = await runtime.bus.handle(ListProviderReviews(provider_id=pro.id, limit=1, offset=1))
    assert [r.text for r in later.reviews] == ["first"] and later.total == 2
    assert any("FROM reviews" in s for s in seen)



class Writing:
    """A transaction as the cache sees it: under way until it ends."""

    is_active = True


def test_a_page_read_before_a_write_is_not_kept_nor_one_read_while_it_may_commit() -> None:
    cache = LatestReviews(clock=ManualClock())
    before = cache.ticket(5)
    transaction = Writing()
    cache.written(5, transaction)
    cache.put(before, 5, "customer", CARD, ("old row",), 1)
    assert cache.get(5, "customer", CARD) is None
    cache.put(cache.ticket(5), 5, "customer", CARD, ("old row",), 1)
    assert cache.get(5, "customer", CARD) is None
    transaction.is_active = False
    cache.put(cache.ticket(5), 5, "customer", CARD, ("new row",), 2)
    assert cache.get(5, "customer", CARD) == (("new row",), 2)


def test_the_cache_holds_at_most_its_size_dropping_the_least_recently_viewed() -> None:
    cache = LatestReviews(max_people=2, clock=ManualClock())
    for person in (1, 2):
        cache.put(cache.ticket(person), person, "customer", CARD, (f"row {person}",), 1)
    assert cache.get(1, "customer", CARD) is not None  # 1 viewed last: 2 goes first
    cache.put(cache.ticket(3), 3, "customer", CARD, ("row 3",), 1)
    assert cache.get(2, "customer", CARD) is None
    assert cache.get(1, "customer", CARD) == (("row 1",), 1)
    assert cache.get(3, "customer", CARD) == (("row 3",), 1)
