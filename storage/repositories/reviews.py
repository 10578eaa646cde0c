"""Reviews on SQL: invitations opened by completed orders, reviews, and the sums behind ratings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.reviews.model import DIMENSIONS, Review, ReviewInvitation, ReviewSide
from core.reviews.rating import RatingSums
from core.shared.errors import DomainError, NotFound
from storage.repositories.base import SqlRepository
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

    async def save(self, review: Review) -> None:
        review.version = await self.update_versioned(
            reviews, {"id": review.id}, review.version, self._values(review)
        )
        self.uow.track(review)

    async def about(
        self, reviewee_id: int, side: ReviewSide, limit: int, offset: int
    ) -> tuple[Sequence[Review], int]:
        params = {"reviewee": reviewee_id, "side": side.value, "limit": limit, "offset": offset}
        rows = (await self.connection.execute(_PAGE, params)).all()
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
