"""Reviews after a completed order: one per side, an edit window, one reply, ratings that add up."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.bootstrap import Runtime
from core.booking.events import OrderCompleted
from core.identity.commands import BanUser
from core.identity.model import User
from core.reviews import events
from core.reviews.commands import (
    EditReview,
    GetCustomerRating,
    GetProviderRating,
    ListPendingReviews,
    ListProviderReviews,
    ReplyToReview,
    SubmitReview,
)
from core.shared.clock import FixedClock
from core.shared.errors import DomainError, Forbidden
from storage.tables.reviews import reviews
from tests.integration.identity.helpers import register


async def complete_order(runtime: Runtime, order_id: int, customer: User, provider: User) -> None:
    """Deliver OrderCompleted to the reviews area as the bus does after booking commits."""
    event = OrderCompleted(
        order_id=order_id, order_number=f"YB-{order_id}", customer_id=customer.id,
        provider_id=provider.id, category_id=1, completed_at=runtime.clock.now(),
    )
    for handler in runtime.bus.event_handlers[OrderCompleted]:
        if handler.__name__ == "open_review_invitations":
            async with runtime.uow_factory() as uow:
                await handler(event, uow)
                await uow.commit()


@pytest.fixture
async def people(runtime: Runtime) -> tuple[User, User, User]:
    customer = await register(runtime, "1001", name="Ann")
    provider = await register(runtime, "2001", name="Pro")
    stranger = await register(runtime, "3001", name="Sam")
    await complete_order(runtime, 7, customer, provider)
    return customer, provider, stranger


def review(order_id: int, reviewer: User, rating: int = 5, **kw: object) -> SubmitReview:
    return SubmitReview(order_id=order_id, reviewer_id=reviewer.id, rating=rating,
                        actor_id=reviewer.id, **kw)  # type: ignore[arg-type]


async def review_rows(runtime: Runtime) -> int:
    async with runtime.uow_factory() as uow:
        return int((await uow.connection.execute(sa.select(sa.func.count()).select_from(reviews))).scalar_one())


async def test_a_completed_order_invites_both_sides_once(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, provider, _ = people
    await complete_order(runtime, 7, customer, provider)  # delivered twice: still two invitations
    async with runtime.uow_factory() as uow:
        opened = [r.event for r in await uow.outbox.claim_batch(100)
                  if isinstance(r.event, events.ReviewInvitationOpened)]
    assert sorted((e.side, e.reviewer_id) for e in opened) == [
        ("customer", customer.id), ("provider", provider.id)
    ]
    pending = await runtime.bus.handle(ListPendingReviews(user_id=customer.id))
    assert [(p.order_number, p.reviewee_id) for p in pending] == [("YB-7", provider.id)]


async def test_a_customer_review_shows_up_with_the_providers_rating(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, provider, _ = people
    view = await runtime.bus.handle(
        review(7, customer, 4, dimensions={"skill": 5, "attitude": 3, "punctuality": 4},
               text="Good game sense")
    )
    assert (view.reviewer_name, view.rating) == ("Ann", 4)
    rating = await runtime.bus.handle(GetProviderRating(provider_id=provider.id))
    assert (rating.count, rating.average) == (1, 4.0)
    assert rating.dimensions == {"skill": 5.0, "attitude": 3.0, "punctuality": 4.0}
    assert rating.bayesian == pytest.approx((10 * 4.0 + 4) / 11, abs=1e-4)
    page = await runtime.bus.handle(ListProviderReviews(provider_id=provider.id))
    assert page.total == 1 and page.reviews[0].text == "Good game sense"
    assert await runtime.bus.handle(ListPendingReviews(user_id=customer.id)) == []


async def test_anonymous_reviews_name_nobody(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, provider, _ = people
    await runtime.bus.handle(review(7, customer, 2, anonymous=True, text="late"))
    (shown,) = (await runtime.bus.handle(ListProviderReviews(provider_id=provider.id))).reviews
    assert shown.anonymous and shown.reviewer_name is None and shown.reviewer_id is None


async def test_the_provider_rates_the_customer_separately(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, provider, _ = people
    await runtime.bus.handle(review(7, provider, 3, dimensions={"punctuality": 2}))
    as_customer = await runtime.bus.handle(GetCustomerRating(customer_id=customer.id))
    as_provider = await runtime.bus.handle(GetProviderRating(provider_id=provider.id))
    assert (as_customer.count, as_customer.dimensions["punctuality"]) == (1, 2.0)
    assert as_provider.count == 0 and as_provider.average is None


@pytest.mark.parametrize("rating", [0, 6])
async def test_out_of_range_ratings_are_refused_and_nothing_is_written(
    runtime: Runtime, people, rating: int  # type: ignore[no-untyped-def]
) -> None:
    customer, _, _ = people
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(review(7, customer, rating))
    assert error.value.key == "error.review.invalid_rating"
    assert await review_rows(runtime) == 0
    assert len(await runtime.bus.handle(ListPendingReviews(user_id=customer.id))) == 1


async def test_reviewing_twice_is_refused(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, _, _ = people
    await runtime.bus.handle(review(7, customer, 5))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(review(7, customer, 1))
    assert error.value.key == "error.review.already_submitted"
    assert await review_rows(runtime) == 1


async def test_someone_elses_order_cannot_be_reviewed(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, _, stranger = people
    with pytest.raises(Forbidden) as error:
        await runtime.bus.handle(review(7, stranger, 1))
    assert error.value.key == "error.review.not_your_order"
    with pytest.raises(Forbidden):
        await runtime.bus.handle(
            SubmitReview(order_id=7, reviewer_id=customer.id, rating=1, actor_id=stranger.id)
        )
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(review(999, customer, 5))
    assert error.value.key == "error.review.order_not_reviewable"
    assert await review_rows(runtime) == 0


async def test_a_banned_customer_cannot_review(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, _, _ = people
    await runtime.bus.handle(BanUser(user_id=customer.id, reason="abuse"))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(review(7, customer, 1))
    assert error.value.key == "error.user.banned"
    assert await review_rows(runtime) == 0


async def test_a_review_is_editable_for_the_window_then_closed(
    runtime: Runtime, people, clock: FixedClock  # type: ignore[no-untyped-def]
) -> None:
    customer, provider, _ = people
    await runtime.bus.handle(review(7, customer, 2, text="meh"))
    clock.advance(timedelta(hours=47))
    edited = await runtime.bus.handle(
        EditReview(order_id=7, reviewer_id=customer.id, rating=5, text="changed my mind")
    )
    assert edited.edited_at == clock.now()
    assert (await runtime.bus.handle(GetProviderRating(provider_id=provider.id))).average == 5.0
    clock.advance(timedelta(hours=2))
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(EditReview(order_id=7, reviewer_id=customer.id, rating=1))
    assert error.value.key == "error.review.edit_window_closed"
    assert (await runtime.bus.handle(GetProviderRating(provider_id=provider.id))).average == 5.0


async def test_editing_before_writing_is_refused(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, _, _ = people
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(EditReview(order_id=7, reviewer_id=customer.id, rating=3))
    assert error.value.key == "error.review.nothing_to_edit"


async def test_the_provider_replies_once(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, provider, stranger = people
    written = await runtime.bus.handle(review(7, customer, 3))
    with pytest.raises(Forbidden):
        await runtime.bus.handle(ReplyToReview(review_id=written.id, provider_id=stranger.id, text="hi"))
    replied = await runtime.bus.handle(
        ReplyToReview(review_id=written.id, provider_id=provider.id, text="Sorry, my mic broke")
    )
    assert replied.reply_text == "Sorry, my mic broke"
    with pytest.raises(DomainError) as error:
        await runtime.bus.handle(
            ReplyToReview(review_id=written.id, provider_id=provider.id, text="also…")
        )
    assert error.value.key == "error.review.already_replied"
    (shown,) = (await runtime.bus.handle(ListProviderReviews(provider_id=provider.id))).reviews
    assert shown.reply_text == "Sorry, my mic broke"
    async with runtime.uow_factory() as uow:
        audit = await uow.audit.for_entity("review", str(written.id))
    assert [a.action for a in audit] == ["submit", "reply"]


async def test_ratings_average_over_many_orders_newest_review_first(
    runtime: Runtime, people, clock: FixedClock  # type: ignore[no-untyped-def]
) -> None:
    customer, provider, _ = people
    for order_id, stars in ((7, 5), (8, 4), (9, 3)):
        if order_id != 7:
            await complete_order(runtime, order_id, customer, provider)
        clock.advance(timedelta(minutes=1))
        await runtime.bus.handle(review(order_id, customer, stars))
    rating = await runtime.bus.handle(GetProviderRating(provider_id=provider.id))
    assert (rating.count, rating.average) == (3, 4.0)
    assert rating.distribution == {1: 0, 2: 0, 3: 1, 4: 1, 5: 1}
    page = await runtime.bus.handle(ListProviderReviews(provider_id=provider.id, limit=2))
    assert page.total == 3 and [r.rating for r in page.reviews] == [3, 4]
    last = await runtime.bus.handle(ListProviderReviews(provider_id=provider.id, limit=2, offset=2))
    assert last.total == 3 and [r.rating for r in last.reviews] == [5]
    beyond = await runtime.bus.handle(ListProviderReviews(provider_id=provider.id, limit=2, offset=4))
    assert beyond.total == 3 and beyond.reviews == ()


async def test_two_simultaneous_submissions_leave_one_review(runtime: Runtime, people) -> None:  # type: ignore[no-untyped-def]
    customer, provider, _ = people
    results = await asyncio.gather(
        runtime.bus.handle(review(7, customer, 5, idempotency_key="tg:1")),
        runtime.bus.handle(review(7, customer, 1, idempotency_key="tg:2")),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(refused) == 1 and refused[0].key == "error.review.already_submitted"
    assert await review_rows(runtime) == 1
    assert (await runtime.bus.handle(GetProviderRating(provider_id=provider.id))).count == 1
