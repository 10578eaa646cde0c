"""What the reviews area needs from storage: invitations, reviews, and sums for the ratings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.reviews.model import Review, ReviewInvitation, ReviewSide
from core.reviews.rating import RatingSums


class ReviewInvitationRepository(Protocol):
    async def open(self, invitation: ReviewInvitation) -> bool:
        """Open the invitation; False if this order's side was already invited."""
        ...

    async def for_order(self, order_id: int) -> list[ReviewInvitation]: ...

    async def mark_reviewed(self, order_id: int, side: ReviewSide, at: datetime) -> None: ...

    async def pending_for(self, reviewer_id: int, limit: int) -> list[ReviewInvitation]:
        """Invitations the person has not answered yet, newest first."""
        ...


class ReviewRepository(Protocol):
    async def get(self, review_id: int) -> Review:
        """The review, or NotFound("error.review.not_found")."""
        ...

    async def for_order(self, order_id: int, side: ReviewSide) -> Review | None: ...

    async def add(self, review: Review) -> None:
        """Insert and set `review.id`; DomainError("error.review.already_submitted") if this
        order's side already has a review (also when another request wrote it a moment ago)."""
        ...

    async def save(self, review: Review) -> None:
        """Version-checked update."""
        ...

    async def about(
        self, reviewee_id: int, side: ReviewSide, limit: int, offset: int
    ) -> tuple[Sequence[Review], int]:
        """One page of reviews about a person (newest first) and how many there are."""
        ...

    async def sums(self, reviewee_id: int, side: ReviewSide) -> RatingSums: ...
