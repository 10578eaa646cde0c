"""Rating aggregates: count, average, per-dimension averages and the Bayesian average.

The Bayesian average pulls a provider's mean towards a prior so that a handful of reviews
cannot outrank hundreds:

    R̃ = (k·m + n·r̄) / (k + n)

with n the provider's number of customer reviews, r̄ their average overall rating, and the
prior worth k = 10 reviews at m = 4.0 stars. The prior is the one the catalog ranks unrated
providers at (`core.catalog.ranking.PRIOR_MEAN`, `PRIOR_WEIGHT`), so rated and unrated
providers sit on one scale. A fixed prior rather than the live platform mean keeps every
stored score comparable: with a moving mean, each new review anywhere would silently make
every other provider's stored score stale.

Only customers' reviews of providers feed ranking; providers' ratings of customers are
summarised the same way for providers deciding whether to accept an order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.catalog.ranking import PRIOR_MEAN, PRIOR_WEIGHT
from core.reviews.model import DIMENSIONS


def bayesian_average(
    count: int, total: int, prior_mean: float = PRIOR_MEAN, prior_weight: int = PRIOR_WEIGHT
) -> float:
    """R̃ for `count` ratings summing to `total` stars (the prior alone when count is 0)."""
    if count < 0 or total < 0:
        raise ValueError("rating counts and sums cannot be negative")
    return (prior_weight * prior_mean + total) / (prior_weight + count)


@dataclass(frozen=True)
class RatingSums:
    """What storage adds up over one person's reviews (one side)."""

    count: int = 0
    total: int = 0
    dimension_counts: Mapping[str, int] = field(default_factory=dict)
    dimension_totals: Mapping[str, int] = field(default_factory=dict)
    distribution: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RatingSummary:
    user_id: int
    side: str
    count: int
    average: float | None
    bayesian: float
    dimensions: dict[str, float | None]
    distribution: dict[int, int]


def summarise(user_id: int, side: str, sums: RatingSums) -> RatingSummary:
    def mean(total: int, count: int) -> float | None:
        return round(total / count, 4) if count else None

    return RatingSummary(
        user_id=user_id,
        side=side,
        count=sums.count,
        average=mean(sums.total, sums.count),
        bayesian=round(bayesian_average(sums.count, sums.total), 4),
        dimensions={
            name: mean(sums.dimension_totals.get(name, 0), sums.dimension_counts.get(name, 0))
            for name in DIMENSIONS
        },
        distribution={stars: int(sums.distribution.get(stars, 0)) for stars in range(1, 6)},
    )
