"""Reviews on SQL: invitations opened by completed orders, reviews, and the sums behind ratings.

Every view of a provider's card shows their latest reviews, and reviews are written far
less often than cards are viewed: a read-only unit of work (a query) takes the first page
of reviews about someone from `LatestReviews`, kept per engine for 30 seconds and
dropped for a person whenever this process writes a review about them (see that class).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.reviews.model import DIMENSIONS, Review, ReviewInvitation, ReviewSide
from core.reviews.rating import RatingSums
from core.shared.errors import DomainError, NotFound
from storage.repositories.base import SqlRepository
from storage.repositories.engine_caches import PerEngine
from storage.tables.reviews import review_invitations, reviews


def _invitation(row: Any) -> ReviewInvitation:
    return ReviewInvitation(
        order_id=row.order_id,
        order_number=row.order_number,
        side=ReviewSide(row.side),
        reviewer_id=row.reviewer_id,
        reviewee_id=row.reviewee_id,
        category_id=row.category_id,
        opened_at=row.opened_at,
        reviewed_at=row.reviewed_at,
    )


class SqlReviewInvitationRepository(SqlRepository):
    async def open(self, invitation: ReviewInvitation) -> bool:
        result = await self.connection.execute(
            self.insert(review_invitations)
            .values(
                order_id=invitation.order_id,
                order_number=invitation.order_number,
                side=invitation.side.value,
                reviewer_id=invitation.reviewer_id,
                reviewee_id=invitation.reviewee_id,
                category_id=invitation.category_id,
                opened_at=invitation.opened_at,
            )
            .on_conflict_do_nothing(index_elements=["order_id", "side"])
        )
        return result.rowcount == 1

    async def for_order(self, order_id: int) -> list[ReviewInvitation]:
        rows = (
            await self.connection.execute(
                sa.select(review_invitations)
                .where(review_invitations.c.order_id == order_id)
                .order_by(review_invitations.c.side)
            )
        ).all()
        return [_invitation(r) for r in rows]

    async def mark_reviewed(self, order_id: int, side: ReviewSide, at: datetime) -> None:
        await self.connection.execute(
            review_invitations.update()
            .where(
                review_invitations.c.order_id == order_id,
                review_invitations.c.side == side.value,
                review_invitations.c.reviewed_at.is_(None),
            )
            .values(reviewed_at=at)
        )

    async def pending_for(self, reviewer_id: int, limit: int) -> list[ReviewInvitation]:
        rows = (
            await self.connection.execute(
                sa.select(review_invitations)
                .where(
                    review_invitations.c.reviewer_id == reviewer_id,
                    review_invitations.c.reviewed_at.is_(None),
                )
                .order_by(review_invitations.c.opened_at.desc(), review_invitations.c.id.desc())
                .limit(limit)
            )
        ).all()
        return [_invitation(r) for r in rows]


_ABOUT = (reviews.c.reviewee_id == sa.bindparam("reviewee"), reviews.c.side == sa.bindparam("side"))
# A page of reviews about someone, each row with the count of all (one statement, built once).
_PAGE = (
    sa.select(reviews, sa.func.count().over().label("total_reviews"))
    .where(*_ABOUT)
    .order_by(reviews.c.created_at.desc(), reviews.c.id.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .offset(sa.bindparam("offset", type_=sa.Integer))
)
_COUNT = sa.select(sa.func.count()).select_from(reviews).where(*_ABOUT)

LATEST_REVIEWS_SECONDS = 30.0
LATEST_REVIEWS_PEOPLE = 2048

# (side, limit) -> (expires at on the cache's clock, the page's rows, how many there are)
_Pages = dict[tuple[str, int], tuple[float, tuple[Any, ...], int]]


class LatestReviews:
    """The first page of reviews about each person, as `SqlReviewRepository.about` read it,
    for read-only units of work on one engine (one per engine, see `latest_reviews`).

    A page lives `seconds` and at most `max_people` people are held, the least recently
    read dropped first. A review this process writes, edits or answers drops every page
    about its reviewee at once, and no page about them is kept while that transaction may
    still commit, nor one read before it: the writer's next view shows the change. A review
    written by another process (another bot, the admin CLI) shows when the page ages out,
    at most `seconds` later, as if it had been written that much later.
    """

    def __init__(
        self,
        *,
        seconds: float = LATEST_REVIEWS_SECONDS,
        max_people: int = LATEST_REVIEWS_PEOPLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_people = max_people
        self.clock = clock
        self._pages: OrderedDict[int, _Pages] = OrderedDict()
        # reviewee -> the transactions that wrote about them and had not ended when last seen
        self._writers: dict[int, list[Any]] = {}
        # Bumped by every write: a page read before it is not kept.
        self._generation = 0

    def get(self, reviewee_id: int, side: str, limit: int) -> tuple[tuple[Any, ...], int] | None:
        pages = self._pages.get(reviewee_id)
        if pages is None:
            return None
        held = pages.get((side, limit))
        if held is None:
            return None
        if held[0] <= self.clock():
            del pages[(side, limit)]
            return None
        self._pages.move_to_end(reviewee_id)
        return held[1], held[2]

    def ticket(self, reviewee_id: int) -> int | None:
        """What to hand `put` with the page about to be read; None while a write about the
        person may still commit (a page read now could miss it)."""
        writers = self._writers.get(reviewee_id)
        if writers is not None:
            writers[:] = [t for t in writers if t.is_active]
            if writers:
                return None
            del self._writers[reviewee_id]
        return self._generation

    def put(
        self, ticket: int | None, reviewee_id: int, side: str, limit: int,
        rows: tuple[Any, ...], total: int,
    ) -> None:
        if ticket is None or ticket != self._generation:
            return
        pages = self._pages.setdefault(reviewee_id, {})
        pages[(side, limit)] = (self.clock() + self.seconds, rows, total)
        self._pages.move_to_end(reviewee_id)
        while len(self._pages) > self.max_people:
            self._pages.popitem(last=False)

    def written(self, reviewee_id: int, transaction: Any) -> None:
        """A review about the person was written in `transaction` (None: already committed)."""
        self._generation += 1
        self._pages.pop(reviewee_id, None)
        for person in list(self._writers):
            still = [t for t in self._writers[person] if t.is_active]
            if still:
                self._writers[person] = still
            else:
                del self._writers[person]
        if transaction is not None and transaction.is_active:
            self._writers.setdefault(reviewee_id, []).append(transaction)


_LATEST_REVIEWS = PerEngine(LatestReviews)


def latest_reviews(engine: Any) -> LatestReviews:
    """The engine's `LatestReviews` (an async engine or its sync engine), made on first use."""
    return _LATEST_REVIEWS.of(engine)


def use_latest_reviews(engine: Any, cache: LatestReviews) -> None:
    """Hold the engine's latest reviews in `cache` (another life, size or clock)."""
    _LATEST_REVIEWS.use(engine, cache)


class SqlReviewRepository(SqlRepository):
    def _review(self, row: Any) -> Review:
        review = Review(
            id=row.id,
            order_id=row.order_id,
            side=ReviewSide(row.side),
            reviewer_id=row.reviewer_id,
            reviewee_id=row.reviewee_id,
            category_id=row.category_id,
            rating=row.rating,
            dimensions={d: getattr(row, d) for d in DIMENSIONS if getattr(row, d) is not None},
            text=row.text,
            anonymous=row.anonymous,
            created_at=row.created_at,
            edited_at=row.edited_at,
            reply_text=row.reply_text,
            replied_at=row.replied_at,
            version=row.version,
        )
        self.uow.track(review)
        return review

    @staticmethod
    def _values(review: Review) -> dict[str, Any]:
        return {
            "rating": review.rating,
            **{d: review.dimensions.get(d) for d in DIMENSIONS},
            "text": review.text,
            "anonymous": review.anonymous,
            "edited_at": review.edited_at,
            "reply_text": review.reply_text,
            "replied_at": review.replied_at,
        }

    async def get(self, review_id: int) -> Review:
        row = (
            await self.connection.execute(
                self.for_update(sa.select(reviews).where(reviews.c.id == review_id))
            )
        ).first()
        if row is None:
            raise NotFound("error.review.not_found", review_id=review_id)
        return self._review(row)

    async def for_order(self, order_id: int, side: ReviewSide) -> Review | None:
        row = (
            await self.connection.execute(
                self.for_update(
                    sa.select(reviews).where(
                        reviews.c.order_id == order_id, reviews.c.side == side.value
                    )
                )
            )
        ).first()
        return None if row is None else self._review(row)

    async def add(self, review: Review) -> None:
        result = await self.connection.execute(
            self.insert(reviews)
            .values(
                order_id=review.order_id,
                side=review.side.value,
                reviewer_id=review.reviewer_id,
                reviewee_id=review.reviewee_id,
                category_id=review.category_id,
                created_at=review.created_at,
                version=1,
                **self._values(review),
            )
            .on_conflict_do_nothing(index_elements=["order_id", "side"])
            .returning(reviews.c.id)
        )
        new_id = result.scalar_one_or_none()
        if new_id is None:
            # The same side of the order was reviewed by a request that committed first.
            raise DomainError("error.review.already_submitted", order_id=review.order_id)
        review.id, review.version = int(new_id), 1
        self.uow.track(review)
        await self._written(review)

    async def save(self, review: Review) -> None:
        review.version = await self.update_versioned(
            reviews, {"id": review.id}, review.version, self._values(review)
        )
        self.uow.track(review)
        await self._written(review)

    async def _written(self, review: Review) -> None:
        """Every write of a review goes through here: the cached pages about its reviewee go."""
        connection = await self.uow.open()
        latest_reviews(self.uow.engine).written(
            review.reviewee_id, connection.sync_connection.get_transaction()
        )

    async def about(
        self, reviewee_id: int, side: ReviewSide, limit: int, offset: int
    ) -> tuple[Sequence[Review], int]:
        cache, ticket = None, None
        if offset == 0 and getattr(self.uow, "read_only", False):
            cache = latest_reviews(self.uow.engine)
            held = cache.get(reviewee_id, side.value, limit)
            if held is not None:
                return [self._review(r) for r in held[0]], held[1]
            ticket = cache.ticket(reviewee_id)
        params = {"reviewee": reviewee_id, "side": side.value, "limit": limit, "offset": offset}
        rows = (await self.connection.execute(_PAGE, params)).all()
        if cache is not None:
            cache.put(
                ticket, reviewee_id, side.value, limit, tuple(rows),
                int(rows[0].total_reviews) if rows else 0,
            )
        if rows:
            total = rows[0].total_reviews
        elif offset == 0:
            total = 0
        else:  # a page past the end still says how many there are
            total = (await self.connection.execute(_COUNT, params)).scalar_one()
        return [self._review(r) for r in rows], int(total)

    async def sums(self, reviewee_id: int, side: ReviewSide) -> RatingSums:
        where = (reviews.c.reviewee_id == reviewee_id, reviews.c.side == side.value)
        columns = [sa.func.count(), sa.func.coalesce(sa.func.sum(reviews.c.rating), 0)]
        for name in DIMENSIONS:
            column = reviews.c[name]
            columns += [sa.func.count(column), sa.func.coalesce(sa.func.sum(column), 0)]
        totals = (await self.connection.execute(sa.select(*columns).where(*where))).one()
        distribution = {
            int(stars): int(n)
            for stars, n in (
                await self.connection.execute(
                    sa.select(reviews.c.rating, sa.func.count())
                    .where(*where)
                    .group_by(reviews.c.rating)
                )
            ).all()
        }
        return RatingSums(
            count=int(totals[0]),
            total=int(totals[1]),
            dimension_counts={d: int(totals[2 + 2 * i]) for i, d in enumerate(DIMENSIONS)},
            dimension_totals={d: int(totals[3 + 2 * i]) for i, d in enumerate(DIMENSIONS)},
            distribution=distribution,
        )
