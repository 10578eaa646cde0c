"""The Review aggregate: whole stars, known dimensions, an edit window, one reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.reviews import events
from core.reviews.model import Review, ReviewInvitation, ReviewSide
from core.shared.errors import DomainError, Forbidden

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=48)


def invitation(side: ReviewSide = ReviewSide.CUSTOMER) -> ReviewInvitation:
    customer, provider = 10, 20
    reviewer, reviewee = (customer, provider) if side is ReviewSide.CUSTOMER else (provider, customer)
    return ReviewInvitation(
        order_id=5, order_number="YB-5", side=side, reviewer_id=reviewer, reviewee_id=reviewee,
        category_id=3, opened_at=NOW,
    )


def write(**overrides: object) -> Review:
    values: dict[str, object] = {
        "rating": 5, "dimensions": {"skill": 5, "attitude": 4}, "text": " great ",
        "anonymous": False, "now": NOW,
    }
    values.update(overrides)
    review = Review.write(invitation(), **values)  # type: ignore[arg-type]
    review.id = 1
    return review


def test_a_review_keeps_what_was_given_tidied() -> None:
    review = write()
    assert (review.rating, review.text) == (5, "great")
    assert review.dimensions == {"skill": 5, "attitude": 4}
    assert (review.reviewer_id, review.reviewee_id) == (10, 20)


@pytest.mark.parametrize("rating", [0, 6, -1, True, 4.5, "5"])
def test_ratings_are_whole_stars_from_one_to_five(rating: object) -> None:
    with pytest.raises(DomainError) as error:
        write(rating=rating)
    assert error.value.key == "error.review.invalid_rating"


def test_dimensions_are_rated_the_same_way_and_must_be_known() -> None:
    with pytest.raises(DomainError) as error:
        write(dimensions={"punctuality": 0})
    assert error.value.key == "error.review.invalid_rating"
    assert error.value.params["what"] == "punctuality"
    with pytest.raises(DomainError) as error:
        write(dimensions={"looks": 5})
    assert error.value.key == "error.review.unknown_dimension"


def test_overlong_text_is_refused() -> None:
    with pytest.raises(DomainError) as error:
        write(text="x" * 1001)
    assert error.value.key == "error.review.text_too_long"


def test_a_review_can_be_edited_within_the_window_only() -> None:
    review = write()
    review.edit(rating=2, dimensions={}, text="late", anonymous=True,
                now=NOW + WINDOW, window=WINDOW)
    assert (review.rating, review.anonymous, review.edited_at) == (2, True, NOW + WINDOW)
    assert isinstance(review.events[-1], events.ReviewEdited)
    with pytest.raises(DomainError) as error:
        review.edit(rating=3, dimensions={}, text="", anonymous=False,
                    now=NOW + WINDOW + timedelta(seconds=1), window=WINDOW)
    assert error.value.key == "error.review.edit_window_closed"
    assert review.rating == 2


def test_a_refused_edit_changes_nothing() -> None:
    review = write()
    with pytest.raises(DomainError):
        review.edit(rating=4, dimensions={"skill": 9}, text="", anonymous=False, now=NOW,
                    window=WINDOW)
    assert review.rating == 5 and review.dimensions == {"skill": 5, "attitude": 4}


def test_only_the_reviewed_provider_replies_and_only_once() -> None:
    review = write()
    with pytest.raises(Forbidden):
        review.reply(provider_id=99, text="thanks", now=NOW)
    with pytest.raises(DomainError) as error:
        review.reply(provider_id=20, text="   ", now=NOW)
    assert error.value.key == "error.review.text_required"
    review.reply(provider_id=20, text="thanks!", now=NOW)
    with pytest.raises(DomainError) as error:
        review.reply(provider_id=20, text="again", now=NOW)
    assert error.value.key == "error.review.already_replied"
    assert review.reply_text == "thanks!"


def test_a_providers_rating_of_a_customer_gets_no_reply() -> None:
    review = Review.write(invitation(ReviewSide.PROVIDER), rating=4, dimensions={}, text="",
                          anonymous=False, now=NOW)
    with pytest.raises(DomainError) as error:
        review.reply(provider_id=10, text="hm", now=NOW)
    assert error.value.key == "error.review.reply_not_allowed"
