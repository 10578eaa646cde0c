"""Handlers of the reviews area.

`OrderCompleted` opens the two invitations. Submitting or editing a customer's review
recomputes the provider's rating from storage and hands it to the catalog
(`uow.providers.set_rating_stats`) in the same transaction, so ranking never disagrees with
the reviews.
"""

from __future__ import annotations

import logging
from datetime import datetime

from core.booking.events import OrderCompleted
from core.identity.guards import acting_user
from core.messagebus import Handler
from core.ports import UnitOfWork
from core.reviews import events
from core.reviews.commands import (
    EditReview,
    GetCustomerRating,
    GetProviderRating,
    ListPendingReviews,
    ListProviderReviews,
    PendingReview,
    ReplyToReview,
    ReviewPage,
    ReviewView,
    SubmitReview,
)
from core.reviews.model import Review, ReviewInvitation, ReviewSide
from core.reviews.policy import DEFAULT_REVIEW_POLICY, ReviewPolicy
from core.reviews.rating import RatingSummary, summarise
from core.shared.audit import AuditEntry
from core.shared.clock import Clock
from core.shared.errors import DomainError, Forbidden, NotFound
from core.shared.messages import Command, Event

log = logging.getLogger(__name__)

MAX_PAGE = 100


def view_of(review: Review, reviewer_name: str | None) -> ReviewView:
    return ReviewView(
        id=review.id,
        order_id=review.order_id,
        side=review.side.value,
        rating=review.rating,
        dimensions=dict(review.dimensions),
        text=review.text,
        anonymous=review.anonymous,
        reviewer_id=None if review.anonymous else review.reviewer_id,
        reviewer_name=None if review.anonymous else reviewer_name,
        reviewee_id=review.reviewee_id,
        created_at=review.created_at,
        edited_at=review.edited_at,
        reply_text=review.reply_text,
        replied_at=review.replied_at,
    )


async def _audit(
    uow: UnitOfWork, review: Review, action: str, actor_id: int, at: datetime, **data: object
) -> None:
    await uow.audit.add(
        AuditEntry(
            entity="review",
            entity_id=str(review.id),
            action=action,
            actor_id=actor_id,
            at=at,
            data={"order_id": review.order_id, "side": review.side.value, **data},
        )
    )


async def refresh_provider_rating(uow: UnitOfWork, provider_id: int) -> RatingSummary:
    """Recompute the provider's rating from the reviews and hand it to the catalog."""
    summary = summarise(
        provider_id, ReviewSide.CUSTOMER.value, await uow.reviews.sums(provider_id, ReviewSide.CUSTOMER)
    )
    try:
        await uow.providers.set_rating_stats(
            provider_id, summary.count, summary.average or 0.0, summary.bayesian
        )
    except NotFound:
        # The reviewed provider has no catalog profile (any more): the review stands;
        # there is simply nothing to rank.
        log.warning("rating of user %s not ranked: no provider profile", provider_id)
    return summary


def _side_of(invitations: list[ReviewInvitation], order_id: int, reviewer_id: int) -> ReviewInvitation:
    if not invitations:
        raise DomainError("error.review.order_not_reviewable", order_id=order_id)
    mine = next((i for i in invitations if i.reviewer_id == reviewer_id), None)
    if mine is None:
        raise Forbidden("error.review.not_your_order", order_id=order_id)
    return mine


def _ensure_actor(actor_id: int | None, person_id: int) -> None:
    if actor_id is not None and actor_id != person_id:
        raise Forbidden("error.review.not_yours")


# -- reactions ------------------------------------------------------------------------------


async def open_review_invitations(event: OrderCompleted, uow: UnitOfWork, clock: Clock) -> None:
    now = clock.now()
    pairs = (
        (ReviewSide.CUSTOMER, event.customer_id, event.provider_id),
        (ReviewSide.PROVIDER, event.provider_id, event.customer_id),
    )
    for side, reviewer_id, reviewee_id in pairs:
        invitation = ReviewInvitation(
            order_id=event.order_id,
            order_number=event.order_number,
            side=side,
            reviewer_id=reviewer_id,
            reviewee_id=reviewee_id,
            category_id=event.category_id,
            opened_at=now,
        )
        if await uow.review_invitations.open(invitation):
            uow.emit(
                events.ReviewInvitationOpened(
                    order_id=event.order_id,
                    order_number=event.order_number,
                    side=side.value,
                    reviewer_id=reviewer_id,
                    reviewee_id=reviewee_id,
                    at=now,
                )
            )


# -- commands -------------------------------------------------------------------------------


async def submit_review(cmd: SubmitReview, uow: UnitOfWork, clock: Clock) -> ReviewView:
    now = clock.now()
    _ensure_actor(cmd.actor_id, cmd.reviewer_id)
    invitation = _side_of(
        await uow.review_invitations.for_order(cmd.order_id), cmd.order_id, cmd.reviewer_id
    )
    reviewer = await acting_user(uow, cmd.reviewer_id, now)
    if await uow.reviews.for_order(cmd.order_id, invitation.side) is not None:
        raise DomainError("error.review.already_submitted", order_id=cmd.order_id)
    review = Review.write(
        invitation,
        rating=cmd.rating,
        dimensions=cmd.dimensions,
        text=cmd.text,
        anonymous=cmd.anonymous,
        now=now,
    )
    await uow.reviews.add(review)
    review.submitted()
    await uow.review_invitations.mark_reviewed(cmd.order_id, invitation.side, now)
    if review.side is ReviewSide.CUSTOMER:
        await refresh_provider_rating(uow, review.reviewee_id)
    await _audit(uow, review, "submit", reviewer.id, now, rating=review.rating)
    return view_of(review, reviewer.display_name)


async def edit_review(
    cmd: EditReview,
    uow: UnitOfWork,
    clock: Clock,
    review_policy: ReviewPolicy = DEFAULT_REVIEW_POLICY,
) -> ReviewView:
    now = clock.now()
    _ensure_actor(cmd.actor_id, cmd.reviewer_id)
    invitation = _side_of(
        await uow.review_invitations.for_order(cmd.order_id), cmd.order_id, cmd.reviewer_id
    )
    reviewer = await acting_user(uow, cmd.reviewer_id, now)
    review = await uow.reviews.for_order(cmd.order_id, invitation.side)
    if review is None:
        raise DomainError("error.review.nothing_to_edit", order_id=cmd.order_id)
    previous = review.rating
    review.edit(
        rating=cmd.rating,
        dimensions=cmd.dimensions,
        text=cmd.text,
        anonymous=cmd.anonymous,
        now=now,
        window=review_policy.edit_window,
    )
    await uow.reviews.save(review)
    if review.side is ReviewSide.CUSTOMER:
        await refresh_provider_rating(uow, review.reviewee_id)
    await _audit(uow, review, "edit", reviewer.id, now, previous_rating=previous, rating=review.rating)
    return view_of(review, reviewer.display_name)


async def reply_to_review(cmd: ReplyToReview, uow: UnitOfWork, clock: Clock) -> ReviewView:
    now = clock.now()
    _ensure_actor(cmd.actor_id, cmd.provider_id)
    provider = await acting_user(uow, cmd.provider_id, now)
    review = await uow.reviews.get(cmd.review_id)
    review.reply(provider_id=provider.id, text=cmd.text, now=now)
    await uow.reviews.save(review)
    await _audit(uow, review, "reply", provider.id, now)
    return view_of(review, await _name_of(uow, review.reviewer_id))


# -- queries --------------------------------------------------------------------------------


async def _name_of(uow: UnitOfWork, user_id: int) -> str | None:
    try:
        return (await uow.users.get(user_id)).display_name
    except NotFound:
        return None


async def list_provider_reviews(cmd: ListProviderReviews, uow: UnitOfWork) -> ReviewPage:
    if not 1 <= cmd.limit <= MAX_PAGE or cmd.offset < 0:
        raise DomainError("error.review.invalid_page", max=MAX_PAGE)
    reviews, total = await uow.reviews.about(
        cmd.provider_id, ReviewSide.CUSTOMER, cmd.limit, cmd.offset
    )
    # An anonymous reviewer's name is never even looked up; the others' in one round trip.
    named = {r.reviewer_id for r in reviews if not r.anonymous}
    people = await uow.users.get_many(named) if named else {}
    views = tuple(
        view_of(
            review,
            None if review.anonymous or review.reviewer_id not in people
            else people[review.reviewer_id].display_name,
        )
        for review in reviews
    )
    return ReviewPage(reviews=views, total=total, limit=cmd.limit, offset=cmd.offset)


async def get_provider_rating(cmd: GetProviderRating, uow: UnitOfWork) -> RatingSummary:
    sums = await uow.reviews.sums(cmd.provider_id, ReviewSide.CUSTOMER)
    return summarise(cmd.provider_id, ReviewSide.CUSTOMER.value, sums)


async def get_customer_rating(cmd: GetCustomerRating, uow: UnitOfWork) -> RatingSummary:
    sums = await uow.reviews.sums(cmd.customer_id, ReviewSide.PROVIDER)
    return summarise(cmd.customer_id, ReviewSide.PROVIDER.value, sums)


async def list_pending_reviews(cmd: ListPendingReviews, uow: UnitOfWork) -> list[PendingReview]:
    _ensure_actor(cmd.actor_id, cmd.user_id)
    if not 1 <= cmd.limit <= MAX_PAGE:
        raise DomainError("error.review.invalid_page", max=MAX_PAGE)
    return [
        PendingReview(
            order_id=i.order_id,
            order_number=i.order_number,
            side=i.side.value,
            reviewee_id=i.reviewee_id,
            opened_at=i.opened_at,
        )
        for i in await uow.review_invitations.pending_for(cmd.user_id, cmd.limit)
    ]


COMMAND_HANDLERS: dict[type[Command], Handler] = {
    SubmitReview: submit_review,
    EditReview: edit_review,
    ReplyToReview: reply_to_review,
    ListProviderReviews: list_provider_reviews,
    GetProviderRating: get_provider_rating,
    GetCustomerRating: get_customer_rating,
    ListPendingReviews: list_pending_reviews,
}

EVENT_HANDLERS: dict[type[Event], list[Handler]] = {
    OrderCompleted: [open_review_invitations],
}
