"""Events of the reviews area: invitations opened, reviews written, edited and answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.messages import Event


@dataclass(frozen=True, kw_only=True)
class ReviewInvitationOpened(Event):
    """`reviewer_id` may now rate `reviewee_id` for the order (side: who writes)."""

    order_id: int
    order_number: str
    side: str
    reviewer_id: int
    reviewee_id: int
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ReviewSubmitted(Event):
    review_id: int
    order_id: int
    side: str
    reviewer_id: int
    reviewee_id: int
    rating: int
    anonymous: bool
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ReviewEdited(Event):
    review_id: int
    order_id: int
    side: str
    reviewer_id: int
    reviewee_id: int
    previous_rating: int
    rating: int
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ReviewReplied(Event):
    review_id: int
    order_id: int
    provider_id: int
    customer_id: int
    at: datetime
