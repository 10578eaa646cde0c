"""The wallet's configurable rules (from `YUEBAN_*` settings), injected as `wallet_policy`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from core.shared.errors import DomainError
from core.shared.money import BASIS_POINTS, Money

# Withdrawals per provider are limited over a rolling window, not a calendar day, so the
# limit means the same in every time zone.
DAILY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class WalletPolicy:
    settlement_days: int = 7
    tip_commission_bps: int = 0
    withdrawal_fee_bps: int = 100
    # Minor units per currency; a currency not listed has no minimum / no withdrawals.
    withdrawal_min: Mapping[str, int] = field(
        default_factory=lambda: {"CNY": 1_000, "USD": 500, "XTR": 1_000}
    )
    withdrawal_daily_limit: Mapping[str, int] = field(
        default_factory=lambda: {"CNY": 5_000_000, "USD": 500_000, "XTR": 1_000_000}
    )

    def __post_init__(self) -> None:
        if self.settlement_days < 0:
            raise ValueError("settlement_days must be >= 0")
        for name in ("tip_commission_bps", "withdrawal_fee_bps"):
            if not 0 <= getattr(self, name) <= BASIS_POINTS:
                raise ValueError(f"{name} must be between 0 and {BASIS_POINTS}")

    @property
    def settlement_period(self) -> timedelta:
        return timedelta(days=self.settlement_days)

    def withdrawal_fee(self, amount: Money) -> Money:
        return amount.share_bps(self.withdrawal_fee_bps)

    def check_withdrawal(self, amount: Money, already_today: int) -> None:
        """Refuse an amount under the minimum or over what is left of the daily limit."""
        currency = amount.currency
        limit = self.withdrawal_daily_limit.get(currency)
        if limit is None:
            raise DomainError("error.wallet.withdrawal_currency_unsupported", currency=currency)
        minimum = Money(self.withdrawal_min.get(currency, 1), currency)
        if amount < minimum:
            raise DomainError("error.wallet.withdrawal_below_minimum", minimum=minimum,
                              requested=amount)
        if already_today + amount.amount > limit:
            raise DomainError(
                "error.wallet.withdrawal_over_daily_limit",
                limit=Money(limit, currency),
                left=Money(max(limit - already_today, 0), currency),
                requested=amount,
            )
        if not (amount - self.withdrawal_fee(amount)).is_positive():
            raise DomainError("error.wallet.withdrawal_below_minimum", minimum=minimum,
                              requested=amount)
