"""The Bayesian average and the rating summary."""

from __future__ import annotations

import pytest

from core.catalog.ranking import PRIOR_MEAN, PRIOR_WEIGHT
from core.reviews.rating import RatingSums, bayesian_average, summarise


def test_without_reviews_the_score_is_the_prior_the_catalog_ranks_newcomers_at() -> None:
    assert bayesian_average(0, 0) == PRIOR_MEAN


def test_the_formula_weighs_the_prior_as_k_reviews_at_m() -> None:
    # (k·m + Σ) / (k + n) with k = 10, m = 4.0: three 5-star reviews -> (40 + 15) / 13
    assert bayesian_average(3, 15) == pytest.approx((PRIOR_WEIGHT * PRIOR_MEAN + 15) / (PRIOR_WEIGHT + 3))
    assert bayesian_average(3, 15) == pytest.approx(55 / 13)


def test_many_good_reviews_beat_a_few_perfect_ones() -> None:
    few_perfect = bayesian_average(3, 15)
    many_good = bayesian_average(300, int(300 * 4.9))
    assert many_good > few_perfect
    assert many_good == pytest.approx(4.87, abs=0.01)


def test_bad_reviews_pull_below_the_prior() -> None:
    assert bayesian_average(5, 5) < PRIOR_MEAN


def test_negative_counts_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        bayesian_average(-1, 0)


def test_the_summary_averages_each_dimension_over_the_reviews_that_rated_it() -> None:
    sums = RatingSums(
        count=4, total=18,
        dimension_counts={"skill": 2, "attitude": 4},
        dimension_totals={"skill": 9, "attitude": 14},
        distribution={5: 2, 4: 2},
    )
    summary = summarise(7, "customer", sums)
    assert summary.average == 4.5
    assert summary.dimensions == {"skill": 4.5, "attitude": 3.5, "punctuality": None}
    assert summary.distribution == {1: 0, 2: 0, 3: 0, 4: 2, 5: 2}
    assert summary.bayesian == pytest.approx(round((40 + 18) / 14, 4))
