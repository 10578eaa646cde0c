"""The ranking score search sorts by, and the geometry behind "near me".

The score of a provider, between 0 and 1, higher first:

    R̃        = (k·m + n·r̄) / (k + n)                   Bayesian-average rating
               n ratings averaging r̄, pulled towards the prior mean m = 4.0 with the
               weight of k = 10 ratings, so three 5-star reviews do not beat three hundred
               4.9-star ones
    quality  = 0.60 · R̃/5 + 0.25 · C + 0.15 · 1/(1 + T/300)
               C: completion rate (0..1), T: median response time in seconds (a provider
               answering in 5 minutes gets half of the responsiveness weight)
    score    = quality                                  without a search point
    score    = 0.80 · quality + 0.20 · (1 − d/ρ)        with a point: d the exact
               great-circle distance in km, ρ the search radius (d ≤ ρ always holds)

Ties go to the lower provider id (the earlier approved). `quality` does not depend on the
search, so storage keeps it in an indexed column (`rank_base`) and a search without a point
is an ordered index scan; with a point, a bounding box on indexed latitude/longitude picks
the candidates and the exact distance is computed here.

New providers start at the prior: R̃ = m, C = 1.0, T = 300 s.
"""

from __future__ import annotations

import math

PRIOR_MEAN = 4.0
PRIOR_WEIGHT = 10
DEFAULT_COMPLETION_RATE = 1.0
DEFAULT_RESPONSE_TIME_S = 300
RESPONSE_HALF_LIFE_S = 300

WEIGHT_RATING = 0.60
WEIGHT_COMPLETION = 0.25
WEIGHT_RESPONSE = 0.15
WEIGHT_QUALITY_NEAR = 0.80
WEIGHT_DISTANCE = 0.20

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180


def bayesian_average(
    count: int, average: float, prior_mean: float = PRIOR_MEAN, prior_weight: int = PRIOR_WEIGHT
) -> float:
    if count < 0:
        raise ValueError("a rating count cannot be negative")
    return (prior_weight * prior_mean + count * average) / (prior_weight + count)


def quality(rating_bayesian: float, completion_rate: float, response_time_s: int) -> float:
    rating = min(max(rating_bayesian, 0.0), 5.0) / 5.0
    completion = min(max(completion_rate, 0.0), 1.0)
    responsiveness = 1.0 / (1.0 + max(response_time_s, 0) / RESPONSE_HALF_LIFE_S)
    return WEIGHT_RATING * rating + WEIGHT_COMPLETION * completion + WEIGHT_RESPONSE * responsiveness


def score(quality_value: float, distance_km: float | None = None, radius_km: float | None = None) -> float:
    if distance_km is None or not radius_km:
        return quality_value
    closeness = 1.0 - min(max(distance_km / radius_km, 0.0), 1.0)
    return WEIGHT_QUALITY_NEAR * quality_value + WEIGHT_DISTANCE * closeness


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(
    lat: float, lon: float, radius_km: float
) -> tuple[float, float, float | None, float | None]:
    """(min_lat, max_lat, min_lon, max_lon) enclosing every point within `radius_km`.

    The longitude bounds are None when the box reaches a pole or crosses the antimeridian:
    then only latitude narrows the search (and the exact distance does the rest).
    """
    dlat = radius_km / KM_PER_DEGREE
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90.0 or max_lat >= 90.0:
        return max(min_lat, -90.0), min(max_lat, 90.0), None, None
    # The box is widest in longitude at the latitude farthest from the equator.
    widest = max(abs(min_lat), abs(max_lat))
    dlon = dlat / math.cos(math.radians(widest))
    min_lon, max_lon = lon - dlon, lon + dlon
    if min_lon < -180.0 or max_lon > 180.0:
        return min_lat, max_lat, None, None
    return min_lat, max_lat, min_lon, max_lon
