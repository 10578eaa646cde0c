"""Commands and queries of the reviews area, and the views the queries return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.shared.messages import Command, Query


@dataclass(frozen=True, kw_only=True)
class SubmitReview(Command):
    order_id: int
    reviewer_id: int
    rating: int
    dimensions: Mapping[str, int] = field(default_factory=dict)
    text: str = ""
    anonymous: bool = False


@dataclass(frozen=True, kw_only=True)
class EditReview(Command):
    """Rewrite one's own review of an order, within the edit window."""

    order_id: int
    reviewer_id: int
    rating: int
    dimensions: Mapping[str, int] = field(default_factory=dict)
    text: str = ""
    anonymous: bool = False


@dataclass(frozen=True, kw_only=True)
class ReplyToReview(Command):
    review_id: int
    provider_id: int
    text: str


@dataclass(frozen=True, kw_only=True)
class ListProviderReviews(Query):
    provider_id: int
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, kw_only=True)
class GetProviderRating(Query):
    provider_id: int


@dataclass(frozen=True, kw_only=True)
class GetCustomerRating(Query):
    """How providers rated this customer (for a provider deciding on an order)."""

    customer_id: int


@dataclass(frozen=True, kw_only=True)
class ListPendingReviews(Query):
    """The orders `user_id` has been invited to review and has not yet."""

    user_id: int
    limit: int = 20


@dataclass(frozen=True)
class ReviewView:
    """A review as the public sees it: an anonymous review names nobody."""

    id: int
    order_id: int
    side: str
    rating: int
    dimensions: dict[str, int]
    text: str
    anonymous: bool
    reviewer_id: int | None
    reviewer_name: str | None
    reviewee_id: int
    created_at: datetime
    edited_at: datetime | None
    reply_text: str | None
    replied_at: datetime | None


@dataclass(frozen=True)
class ReviewPage:
    reviews: tuple[ReviewView, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class PendingReview:
    order_id: int
    order_number: str
    side: str
    reviewee_id: int
    opened_at: datetime
