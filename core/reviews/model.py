"""Review invitations and the Review aggregate.

A completed order opens two invitations: the customer rates the provider, and the provider
rates the customer. Each side writes at most one review per order, may edit it for a window
after writing it (`ReviewPolicy.edit_window`), and the provider may answer a customer's review
once. Ratings are whole stars 1..5, overall plus optional dimensions (skill, attitude,
punctuality), each 1..5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.reviews import events
from core.shared.aggregate import Aggregate
from core.shared.errors import DomainError, Forbidden

DIMENSIONS = ("skill", "attitude", "punctuality")
MAX_TEXT = 1000
MAX_REPLY = 1000


class ReviewSide(StrEnum):
    """Who writes the review: the customer (about the provider) or the provider (about the customer)."""

    CUSTOMER = "customer"
    PROVIDER = "provider"


def check_rating(value: object, what: str = "rating") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise DomainError("error.review.invalid_rating", what=what, value=str(value))
    return value


def check_dimensions(dimensions: Mapping[str, int] | None) -> dict[str, int]:
    given = dict(dimensions or {})
    unknown = sorted(set(given) - set(DIMENSIONS))
    if unknown:
        raise DomainError(
            "error.review.unknown_dimension",
            dimension=", ".join(unknown),
            dimensions=", ".join(DIMENSIONS),
        )
    return {name: check_rating(given[name], name) for name in DIMENSIONS if name in given}


def clean_text(text: str | None, *, limit: int, required: bool = False) -> str:
    cleaned = (text or "").strip()
    if required and not cleaned:
        raise DomainError("error.review.text_required")
    if len(cleaned) > limit:
        raise DomainError("error.review.text_too_long", limit=limit, length=len(cleaned))
    return cleaned


@dataclass(frozen=True)
class ReviewInvitation:
    """One side of one completed order may write a review."""

    order_id: int
    order_number: str
    side: ReviewSide
    reviewer_id: int
    reviewee_id: int
    category_id: int
    opened_at: datetime
    reviewed_at: datetime | None = None


@dataclass(kw_only=True)
class Review(Aggregate):
    id: int
    order_id: int
    side: ReviewSide
    reviewer_id: int
    reviewee_id: int
    category_id: int
    rating: int
    dimensions: dict[str, int] = field(default_factory=dict)
    text: str = ""
    anonymous: bool = False
    created_at: datetime
    edited_at: datetime | None = None
    reply_text: str | None = None
    replied_at: datetime | None = None

    @classmethod
    def write(
        cls,
        invitation: ReviewInvitation,
        *,
        rating: int,
        dimensions: Mapping[str, int] | None,
        text: str | None,
        anonymous: bool,
        now: datetime,
    ) -> Review:
        """A new review for `invitation`; `id` is 0 until storage assigns it."""
        return cls(
            id=0,
            order_id=invitation.order_id,
            side=invitation.side,
            reviewer_id=invitation.reviewer_id,
            reviewee_id=invitation.reviewee_id,
            category_id=invitation.category_id,
            rating=check_rating(rating),
            dimensions=check_dimensions(dimensions),
            text=clean_text(text, limit=MAX_TEXT),
            anonymous=bool(anonymous),
            created_at=now,
        )

    def submitted(self) -> None:
        """Record the submission once storage has given the review an id."""
        self.record(
            events.ReviewSubmitted(
                review_id=self.id,
                order_id=self.order_id,
                side=self.side.value,
                reviewer_id=self.reviewer_id,
                reviewee_id=self.reviewee_id,
                rating=self.rating,
                anonymous=self.anonymous,
                at=self.created_at,
            )
        )

    def editable_until(self, window: timedelta) -> datetime:
        return self.created_at + window

    def edit(
        self,
        *,
        rating: int,
        dimensions: Mapping[str, int] | None,
        text: str | None,
        anonymous: bool,
        now: datetime,
        window: timedelta,
    ) -> None:
        if now > self.editable_until(window):
            raise DomainError(
                "error.review.edit_window_closed",
                hours=int(window.total_seconds() // 3600),
            )
        new_rating = check_rating(rating)
        new_dimensions = check_dimensions(dimensions)
        new_text = clean_text(text, limit=MAX_TEXT)
        previous = self.rating
        self.rating, self.dimensions, self.text = new_rating, new_dimensions, new_text
        self.anonymous = bool(anonymous)
        self.edited_at = now
        self.record(
            events.ReviewEdited(
                review_id=self.id,
                order_id=self.order_id,
                side=self.side.value,
                reviewer_id=self.reviewer_id,
                reviewee_id=self.reviewee_id,
                previous_rating=previous,
                rating=self.rating,
                at=now,
            )
        )

    def reply(self, *, provider_id: int, text: str | None, now: datetime) -> None:
        if self.side is not ReviewSide.CUSTOMER:
            raise DomainError("error.review.reply_not_allowed")
        if provider_id != self.reviewee_id:
            raise Forbidden("error.review.not_your_review")
        if self.reply_text is not None:
            raise DomainError("error.review.already_replied")
        self.reply_text = clean_text(text, limit=MAX_REPLY, required=True)
        self.replied_at = now
        self.record(
            events.ReviewReplied(
                review_id=self.id,
                order_id=self.order_id,
                provider_id=self.reviewee_id,
                customer_id=self.reviewer_id,
                at=now,
            )
        )
