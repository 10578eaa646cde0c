"""Facts the wallet records: payments in, refunds out, withdrawals decided, earnings settled.

Other areas and the notice dispatcher consume them: booking reacts to `PaymentReceived` for
an order (it then calls `api.pay_order` to hold the money), operators are alerted by
`PaymentMismatch`, providers and customers are told about refunds and withdrawals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.messages import Event
from core.shared.money import Money


@dataclass(frozen=True, kw_only=True)
class PaymentReceived(Event):
    """A gateway's money reached the customer's wallet (for an order it is not held yet)."""

    payment_id: int
    gateway: str
    payment_ref: str
    customer_id: int
    amount: Money
    purpose: str
    order_id: int | None
    is_test: bool
    at: datetime


@dataclass(frozen=True, kw_only=True)
class PaymentMismatch(Event):
    """A payment callback did not match what we expected; nothing was credited."""

    gateway: str
    payment_ref: str
    problem: str  # unknown_payment | amount_mismatch | currency_mismatch | customer_mismatch
    expected: Money | None
    received: Money
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RefundRequested(Event):
    refund_id: int
    order_id: int | None
    customer_id: int
    gateway: str
    amount: Money


@dataclass(frozen=True, kw_only=True)
class RefundCompleted(Event):
    refund_id: int
    order_id: int | None
    customer_id: int
    gateway: str
    amount: Money
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RefundFailed(Event):
    """The gateway would not refund: the money stays in the customer's wallet."""

    refund_id: int
    order_id: int | None
    customer_id: int
    gateway: str
    amount: Money
    failure: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class WithdrawalRequested(Event):
    withdrawal_id: int
    provider_id: int
    amount: Money
    fee: Money
    method: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class WithdrawalApproved(Event):
    withdrawal_id: int
    provider_id: int
    payout: Money
    payout_ref: str
    decided_by: int | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class WithdrawalRejected(Event):
    withdrawal_id: int
    provider_id: int
    amount: Money
    reason: str
    decided_by: int | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class EarningsSettled(Event):
    """Earnings older than the settlement period became available to withdraw."""

    provider_id: int
    amount: Money
    earnings: int
    at: datetime
