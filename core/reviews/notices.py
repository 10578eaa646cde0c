"""What people are told about reviews: an invitation to rate, a review received, a reply.

Texts live under `notice.review.*` and `review.action.*` in
`bots/i18n/locales/*/LC_MESSAGES/reviews.po`. An invitation carries one action per star
count, so a chat can offer "★ … ★★★★★" buttons that submit a rating directly
(`review.rate` with `order_id` and `rating`).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.reviews import events
from core.reviews.model import ReviewSide
from core.shared.messages import Action, Event, Notice


def _rate_actions(order_id: int) -> tuple[Action, ...]:
    return tuple(
        Action("review.rate", {"order_id": order_id, "rating": stars}, f"review.action.stars_{stars}")
        for stars in range(1, 6)
    )


def notices_for(event: Event) -> Sequence[Notice]:
    if isinstance(event, events.ReviewInvitationOpened):
        key = (
            "notice.review.invite_customer"
            if event.side == ReviewSide.CUSTOMER.value
            else "notice.review.invite_provider"
        )
        return [
            Notice(
                event.reviewer_id,
                key,
                {"order_number": event.order_number, "order_id": event.order_id},
                _rate_actions(event.order_id),
                dedup_key=f"{event.event_id}:invite",
            )
        ]
    if isinstance(event, events.ReviewSubmitted) and event.side == ReviewSide.CUSTOMER.value:
        return [
            Notice(
                event.reviewee_id,
                "notice.review.received",
                {"rating": event.rating, "order_id": event.order_id},
                (Action("review.reply", {"review_id": event.review_id}, "review.action.reply"),),
                dedup_key=f"{event.event_id}:received",
            )
        ]
    if isinstance(event, events.ReviewReplied):
        return [
            Notice(
                event.customer_id,
                "notice.review.replied",
                {"order_id": event.order_id, "review_id": event.review_id},
                dedup_key=f"{event.event_id}:replied",
            )
        ]
    return []
