"""Booking policy arithmetic: fee tiers, commission by tier, dispute refunds, overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.booking.model import order_number
from core.booking.policy import (
    DEFAULTS,
    BookingPolicy,
    DisputeOutcome,
    FeeTier,
    IdleDisputeRule,
    commission_bps,
    default_policy,
    dispute_refund,
    duration_of,
)
from core.booking.slots import cells_for, overlaps
from core.shared.errors import DomainError
from core.shared.money import Money

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "notice,fee_bps",
    [(timedelta(hours=30), 0), (timedelta(hours=24), 0), (timedelta(hours=23, minutes=59), 3000),
     (timedelta(hours=2), 3000), (timedelta(hours=1, minutes=59), 10000),
     (timedelta(0), 10000), (-timedelta(hours=1), 10000)],
)
def test_cancellation_fee_tiers_by_notice(notice: timedelta, fee_bps: int) -> None:
    policy = default_policy("on_site")
    assert policy.cancellation_fee_bps(NOW + notice, NOW) == fee_bps
    assert policy.cancellation_fee(Money(10000, "CNY"), NOW + notice, NOW) == Money(fee_bps, "CNY")


def test_defaults_by_service_kind() -> None:
    assert DEFAULTS["online_session"].accept_window == timedelta(minutes=10)
    assert DEFAULTS["on_site"].accept_window == timedelta(hours=2)
    policy = default_policy("venue_lesson")
    assert (policy.max_reschedules, policy.auto_complete_after, policy.dispute_window,
            policy.dispute_response_window) == (2, timedelta(hours=24), timedelta(hours=72),
                                                timedelta(hours=48))
    assert default_policy("unknown-kind").accept_window == timedelta(minutes=30)


def test_category_overrides_replace_only_what_they_name() -> None:
    policy = default_policy("on_site").with_overrides(
        {"accept_window": 45, "fee_tiers": [[48, 0], [0, 5000]], "max_reschedules": 0,
         "idle_dispute_outcome": "release"})
    assert policy.accept_window == timedelta(minutes=45)
    assert policy.fee_tiers == (FeeTier(timedelta(hours=48), 0), FeeTier(timedelta(0), 5000))
    assert policy.max_reschedules == 0
    assert policy.idle_dispute_outcome is IdleDisputeRule.RELEASE
    assert policy.dispute_window == timedelta(hours=72)


@pytest.mark.parametrize("overrides,key", [
    ({"accept_windw": 5}, "error.policy.unknown_field"),
    ({"accept_window": -1}, "error.policy.invalid_value"),
    ({"accept_window": "10"}, "error.policy.invalid_value"),
    ({"deposit_bps": 10001}, "error.policy.invalid_value"),
    ({"fee_tiers": []}, "error.policy.invalid_value"),
    ({"idle_dispute_outcome": "coin_flip"}, "error.policy.invalid_value"),
])
def test_bad_overrides_are_refused(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(DomainError) as caught:
        BookingPolicy(accept_window=timedelta(1)).with_overrides(overrides)
    assert caught.value.key == key


@pytest.mark.parametrize("base,tier,expected", [(2000, 1, 2000), (2000, 3, 1800),
                                                (2000, 5, 1600), (200, 5, 0)])
def test_commission_drops_one_percent_per_tier_above_one(base: int, tier: int, expected: int) -> None:
    assert commission_bps(base, tier) == expected


def test_dispute_refunds() -> None:
    held = Money(10000, "CNY")
    assert dispute_refund(held, DisputeOutcome.RELEASE) == Money(0, "CNY")
    assert dispute_refund(held, DisputeOutcome.REFUND) == held
    assert dispute_refund(held, DisputeOutcome.PARTIAL, refund_bps=2500) == Money(2500, "CNY")
    assert dispute_refund(held, DisputeOutcome.PARTIAL,
                          refund_amount=Money(1234, "CNY")) == Money(1234, "CNY")
    for kwargs in ({}, {"refund_bps": 0}, {"refund_bps": 10000},
                   {"refund_amount": Money(10000, "CNY")},
                   {"refund_bps": 10, "refund_amount": Money(1, "CNY")}):
        with pytest.raises(DomainError):
            dispute_refund(held, DisputeOutcome.PARTIAL, **kwargs)  # type: ignore[arg-type]


def test_durations_by_pricing_unit() -> None:
    assert duration_of("hour", 3) == timedelta(hours=3)
    assert duration_of("round", 2) == timedelta(hours=1)
    assert duration_of("base_per_km", 12) == timedelta(hours=1)


def test_order_numbers_are_short_unique_and_readable() -> None:
    assert order_number(1) == "YB00001"
    assert order_number(42) == "YB0001A"
    numbers = {order_number(i) for i in range(1, 5000)}
    assert len(numbers) == 4999
    assert not any(ch in n[2:] for n in numbers for ch in "ILOU")


def test_slot_cells_cover_the_range() -> None:
    start = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
    cells = cells_for(start, start + timedelta(minutes=45))
    assert [c.minute for c in cells] == [0, 15, 30, 45]


@given(st.integers(0, 2000), st.integers(1, 300), st.integers(0, 2000), st.integers(1, 300))
def test_overlapping_ranges_always_share_a_cell(a: int, a_len: int, b: int, b_len: int) -> None:
    base = datetime(2026, 3, 2, tzinfo=UTC)
    ra = (base + timedelta(minutes=a), base + timedelta(minutes=a + a_len))
    rb = (base + timedelta(minutes=b), base + timedelta(minutes=b + b_len))
    if overlaps(ra, rb):
        assert set(cells_for(*ra)) & set(cells_for(*rb))


def test_ranges_aligned_to_cells_that_touch_do_not_collide() -> None:
    base = datetime(2026, 3, 2, 10, tzinfo=UTC)
    first = cells_for(base, base + timedelta(hours=1))
    second = cells_for(base + timedelta(hours=1), base + timedelta(hours=2))
    assert not set(first) & set(second)
