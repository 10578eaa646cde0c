"""What the wallet's read commands return: statements, balances, payment outcomes, reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.money import Money


@dataclass(frozen=True)
class UserBalance:
    """One user's money in one currency."""

    currency: str
    wallet: Money  # the customer balance, holds included
    wallet_held: Money  # of which held for orders or refunds on their way
    wallet_available: Money
    earnings_pending: Money  # earned, settling
    earnings_available: Money  # may be withdrawn
    withdrawing: Money  # requested withdrawals not yet decided


@dataclass(frozen=True)
class StatementLine:
    transfer_id: str
    at: datetime
    account: str  # customer_wallet | provider_pending | provider_available
    amount: Money  # + into the account, - out of it
    kind: str  # posted | pending | post_pending | void_pending
    reason: str
    order_id: int | None


@dataclass(frozen=True)
class Statement:
    user_id: int
    balances: tuple[UserBalance, ...]
    lines: tuple[StatementLine, ...]


@dataclass(frozen=True)
class AccountBalance:
    account_id: int
    kind: str
    owner_id: int
    qualifier: str
    currency: str
    balance: Money  # credits posted - debits posted (negative: money that came from outside)
    pending_in: Money
    pending_out: Money


@dataclass(frozen=True)
class PaymentOutcome:
    """What became of a payment callback: credited, already credited, or refused."""

    status: str  # credited | duplicate | refused
    gateway: str
    payment_ref: str
    problem: str | None = None
    error_key: str | None = None
    payment_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status in ("credited", "duplicate")


@dataclass(frozen=True)
class SettlementReport:
    earnings_settled: int
    providers: int
    amounts: tuple[Money, ...]


@dataclass(frozen=True)
class RefundReport:
    processed: int
    succeeded: int
    failed: int
