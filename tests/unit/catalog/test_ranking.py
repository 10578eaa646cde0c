"""The ranking score: Bayesian rating, completion, response time, distance; and the geometry."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from core.catalog.ranking import (
    PRIOR_MEAN,
    bayesian_average,
    bounding_box,
    haversine_km,
    quality,
    score,
)


def test_a_few_perfect_ratings_do_not_beat_many_excellent_ones() -> None:
    newcomer = bayesian_average(3, 5.0)
    veteran = bayesian_average(300, 4.9)
    assert veteran > newcomer
    assert bayesian_average(0, 0.0) == PRIOR_MEAN


def test_better_rating_completion_and_response_each_rank_higher() -> None:
    base = quality(4.5, 0.9, 300)
    assert quality(4.8, 0.9, 300) > base
    assert quality(4.5, 0.99, 300) > base
    assert quality(4.5, 0.9, 30) > base
    assert 0.0 <= quality(0.0, 0.0, 10**9) < quality(5.0, 1.0, 0) <= 1.0


def test_closer_providers_rank_higher_at_equal_quality() -> None:
    q = quality(4.5, 0.95, 120)
    assert score(q, 1.0, 10.0) > score(q, 9.0, 10.0)
    assert score(q) == q


def test_much_better_quality_outweighs_a_little_distance() -> None:
    great, poor = quality(4.9, 1.0, 30), quality(3.0, 0.6, 3000)
    assert score(great, 4.0, 10.0) > score(poor, 0.5, 10.0)


def test_the_distance_from_beijing_to_shanghai() -> None:
    assert math.isclose(haversine_km(39.9042, 116.4074, 31.2304, 121.4737), 1067, rel_tol=0.01)


@given(
    lat=st.floats(-80, 80),
    lon=st.floats(-170, 170),
    radius=st.floats(0.1, 200),
    bearing=st.floats(0, 2 * math.pi),
    fraction=st.floats(0, 0.999),
)
def test_every_point_within_the_radius_lies_in_the_bounding_box(
    lat: float, lon: float, radius: float, bearing: float, fraction: float
) -> None:
    # A point `fraction * radius` away in direction `bearing` (spherical destination formula).
    angular = fraction * radius / 6371.0088
    phi1, lambda1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(angular) + math.cos(phi1) * math.sin(angular) * math.cos(bearing)
    )
    lambda2 = lambda1 + math.atan2(
        math.sin(bearing) * math.sin(angular) * math.cos(phi1),
        math.cos(angular) - math.sin(phi1) * math.sin(phi2),
    )
    point_lat, point_lon = math.degrees(phi2), math.degrees(lambda2)
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius)
    assert min_lat - 1e-9 <= point_lat <= max_lat + 1e-9
    if min_lon is not None and max_lon is not None:
        assert min_lon - 1e-9 <= point_lon <= max_lon + 1e-9


def test_a_box_across_the_antimeridian_or_a_pole_drops_the_longitude_bounds() -> None:
    assert bounding_box(10.0, 179.99, 50)[2:] == (None, None)
    assert bounding_box(89.9, 0.0, 50)[2:] == (None, None)
    assert None not in bounding_box(31.23, 121.47, 10)
