"""Splitting an order's money: commission, the hall's share, the provider's remainder."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.shared.money import Money
from core.wallet.api import Split, split_amount


def test_commission_comes_from_the_gross_and_the_hall_share_from_the_rest() -> None:
    split = split_amount(Money(10_000, "CNY"), 2_000, venue_id=3, venue_share_bps=3_000)
    assert split == Split(provider=Money(5_600, "CNY"), platform=Money(2_000, "CNY"),
                          venue=Money(2_400, "CNY"))


def test_without_a_hall_the_provider_gets_everything_but_the_commission() -> None:
    split = split_amount(Money(9_999, "CNY"), 1_500, venue_id=None, venue_share_bps=3_000)
    assert split.venue == Money(0, "CNY")
    assert split.platform == Money(1_500, "CNY")  # 1499.85 rounds half up
    assert split.provider == Money(8_499, "CNY")


@given(
    amount=st.integers(min_value=1, max_value=10**12),
    commission=st.integers(min_value=0, max_value=10_000),
    venue_share=st.integers(min_value=0, max_value=10_000),
    has_venue=st.booleans(),
    currency=st.sampled_from(["CNY", "USD", "XTR"]),
)
def test_the_parts_always_sum_to_the_whole_and_none_is_negative(
    amount: int, commission: int, venue_share: int, has_venue: bool, currency: str
) -> None:
    total = Money(amount, currency)
    split = split_amount(total, commission, 1 if has_venue else None, venue_share)
    assert split.total == total
    assert min(split.provider.amount, split.platform.amount, split.venue.amount) >= 0


def test_a_split_survives_being_stored_as_json() -> None:
    split = split_amount(Money(777, "XTR"), 2_500, venue_id=2, venue_share_bps=1_000)
    assert Split.from_json(split.to_json()) == split
