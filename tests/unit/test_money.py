"""Money: integer minor units, exact parsing, shares that always add up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.shared.errors import DomainError
from core.shared.money import CURRENCIES, Money


def test_parsing_is_exact_in_minor_units() -> None:
    assert Money.parse("12.50", "CNY") == Money(1250, "CNY")
    assert Money.parse("3", "XTR") == Money(3, "XTR")


@pytest.mark.parametrize("text,currency", [("1.005", "CNY"), ("1.5", "XTR"), ("abc", "CNY"), ("NaN", "USD")])
def test_amounts_that_cannot_be_money_are_refused(text: str, currency: str) -> None:
    with pytest.raises(DomainError):
        Money.parse(text, currency)


def test_unknown_currency_and_floats_are_refused() -> None:
    with pytest.raises(DomainError):
        Money(100, "BTC")
    with pytest.raises(TypeError):
        Money(1.5, "CNY")  # type: ignore[arg-type]


def test_different_currencies_do_not_mix() -> None:
    with pytest.raises(DomainError) as caught:
        Money(1, "CNY") + Money(1, "USD")
    assert caught.value.key == "error.money.currency_mismatch"


def test_formatting() -> None:
    assert Money(1250, "CNY").format() == "12.50 CNY"
    assert Money(50, "XTR").format() == "50 XTR"
    assert Money(-5, "USD").format() == "-0.05 USD"
    assert Money(0, "CNY").format() == "0.00 CNY"


@given(st.integers(min_value=-10**15, max_value=10**15), st.sampled_from(["CNY", "USD", "XTR"]))
def test_formatting_writes_the_exact_decimal_amount(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    digits = CURRENCIES[currency]
    assert money.format() == f"{money.to_decimal():.{digits}f} {currency}"
    assert Money.parse(money.format().split()[0], currency) == money


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10_000))
def test_a_share_and_its_remainder_sum_to_the_whole(amount: int, bps: int) -> None:
    whole = Money(amount, "CNY")
    share = whole.share_bps(bps)
    rest = whole - share
    assert share.amount >= 0 and rest.amount >= 0
    assert share + rest == whole
