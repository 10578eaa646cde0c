"""The wallet's records with a life of their own: gateway payments, refunds, withdrawals.

Each is an aggregate whose verbs guard the move, change the state and record an event:
a payment is paid once, a refund succeeds or fails once, a withdrawal is approved or
rejected once. The money itself moves in the ledger (`core/wallet/ledger.py`); these
records say why and keep the gateway's references.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.shared.aggregate import Aggregate
from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet.events import (
    PaymentReceived,
    RefundCompleted,
    RefundFailed,
    RefundRequested,
    WithdrawalApproved,
    WithdrawalRejected,
    WithdrawalRequested,
)

PURPOSES = frozenset({"order", "topup", "tip"})


class PaymentStatus(StrEnum):
    CREATED = "created"  # the customer was shown how to pay
    PAID = "paid"  # the gateway confirmed; the money is in the customer's wallet


@dataclass(kw_only=True)
class Payment(Aggregate):
    id: int | None = None
    gateway: str
    payment_ref: str
    customer_id: int
    purpose: str
    order_id: int | None
    amount: Money
    created_at: datetime
    status: PaymentStatus = PaymentStatus.CREATED
    is_test: bool = False
    gateway_charge_id: str | None = None
    paid_at: datetime | None = None
    refunded: int = 0  # minor units already sent back (or on their way) to the gateway

    @property
    def refundable(self) -> Money:
        if self.status is not PaymentStatus.PAID:
            return Money.zero(self.amount.currency)
        return Money(self.amount.amount - self.refunded, self.amount.currency)

    def mark_paid(self, at: datetime, gateway_charge_id: str | None, *, announce: bool = True) -> None:
        """The gateway's money arrived. `announce=False` when the caller holds it at once
        (the booking area paying an order) and needs no `PaymentReceived` to react to."""
        if self.status is PaymentStatus.PAID:
            raise DomainError("error.wallet.payment_already_paid", payment=self.payment_ref)
        self.status = PaymentStatus.PAID
        self.paid_at = at
        self.gateway_charge_id = gateway_charge_id or self.gateway_charge_id
        assert self.id is not None
        if not announce:
            return
        self.record(
            PaymentReceived(
                payment_id=self.id,
                gateway=self.gateway,
                payment_ref=self.payment_ref,
                customer_id=self.customer_id,
                amount=self.amount,
                purpose=self.purpose,
                order_id=self.order_id,
                is_test=self.is_test,
                at=at,
            )
        )

    def reserve_refund(self, amount: Money) -> None:
        if amount.amount <= 0 or self.refundable < amount:
            raise DomainError(
                "error.wallet.refund_exceeds_paid", paid=self.refundable, requested=amount
            )
        self.refunded += amount.amount

    def release_refund(self, amount: Money) -> None:
        self.refunded -= amount.amount


@dataclass(frozen=True)
class PaymentAlert:
    gateway: str
    payment_ref: str
    problem: str
    received: Money
    at: datetime
    expected: Money | None = None
    id: int | None = None


class RefundStatus(StrEnum):
    REQUESTED = "requested"  # money held on its way out (a pending transfer)
    SUCCEEDED = "succeeded"  # the gateway refunded; the hold was posted
    FAILED = "failed"  # the gateway refused; the hold was voided, money back in the wallet


@dataclass(kw_only=True)
class Refund(Aggregate):
    id: int | None = None
    payment_id: int
    gateway: str
    payment_ref: str
    customer_id: int
    order_id: int | None
    amount: Money
    hold_transfer_id: str
    requested_at: datetime
    status: RefundStatus = RefundStatus.REQUESTED
    decided_at: datetime | None = None
    gateway_ref: str | None = None
    failure: str | None = None

    @property
    def refund_ref(self) -> str:
        return f"rf{self.id}"

    def requested(self) -> None:
        assert self.id is not None
        self.record(
            RefundRequested(
                refund_id=self.id,
                order_id=self.order_id,
                customer_id=self.customer_id,
                gateway=self.gateway,
                amount=self.amount,
            )
        )

    def _decide(self) -> None:
        if self.status is not RefundStatus.REQUESTED:
            raise DomainError("error.wallet.refund_already_decided", refund=self.id)

    def succeed(self, at: datetime, gateway_ref: str | None) -> None:
        self._decide()
        self.status, self.decided_at, self.gateway_ref = RefundStatus.SUCCEEDED, at, gateway_ref
        assert self.id is not None
        self.record(
            RefundCompleted(
                refund_id=self.id, order_id=self.order_id, customer_id=self.customer_id,
                gateway=self.gateway, amount=self.amount, at=at,
            )
        )

    def fail(self, at: datetime, failure: str) -> None:
        self._decide()
        self.status, self.decided_at, self.failure = RefundStatus.FAILED, at, failure
        assert self.id is not None
        self.record(
            RefundFailed(
                refund_id=self.id, order_id=self.order_id, customer_id=self.customer_id,
                gateway=self.gateway, amount=self.amount, failure=failure, at=at,
            )
        )


class WithdrawalStatus(StrEnum):
    REQUESTED = "requested"  # amount held out of available earnings
    PAID = "paid"  # an operator approved; paid out, hold posted
    REJECTED = "rejected"  # an operator rejected; hold voided, money available again


@dataclass(kw_only=True)
class Withdrawal(Aggregate):
    id: int | None = None
    provider_id: int
    amount: Money  # what leaves the provider's available earnings
    fee: Money  # the platform's part of it
    method: str  # the payout gateway ("manual", "sandbox", ...)
    requested_at: datetime
    status: WithdrawalStatus = WithdrawalStatus.REQUESTED
    decided_at: datetime | None = None
    decided_by: int | None = None
    reason: str | None = None
    payout_ref: str | None = None

    @property
    def payout(self) -> Money:
        """What reaches the provider."""
        return self.amount - self.fee

    @property
    def journal_prefix(self) -> str:
        return f"withdrawal:{self.id}"

    def requested(self) -> None:
        assert self.id is not None
        self.record(
            WithdrawalRequested(
                withdrawal_id=self.id, provider_id=self.provider_id, amount=self.amount,
                fee=self.fee, method=self.method, at=self.requested_at,
            )
        )

    def _decide(self) -> None:
        if self.status is not WithdrawalStatus.REQUESTED:
            raise DomainError(
                "error.wallet.withdrawal_already_decided", withdrawal=self.id,
                status=self.status.value,
            )

    def approve(self, by: int | None, at: datetime, payout_ref: str) -> None:
        self._decide()
        self.status, self.decided_at, self.decided_by = WithdrawalStatus.PAID, at, by
        self.payout_ref = payout_ref
        assert self.id is not None
        self.record(
            WithdrawalApproved(
                withdrawal_id=self.id, provider_id=self.provider_id, payout=self.payout,
                payout_ref=payout_ref, decided_by=by, at=at,
            )
        )

    def reject(self, by: int | None, at: datetime, reason: str) -> None:
        self._decide()
        if not reason.strip():
            raise DomainError("error.wallet.reason_required")
        self.status, self.decided_at, self.decided_by = WithdrawalStatus.REJECTED, at, by
        self.reason = reason.strip()
        assert self.id is not None
        self.record(
            WithdrawalRejected(
                withdrawal_id=self.id, provider_id=self.provider_id, amount=self.amount,
                reason=self.reason, decided_by=by, at=at,
            )
        )


@dataclass(frozen=True)
class Earning:
    """A provider's earning waiting for the settlement period to pass."""

    provider_id: int
    amount: Money
    journal_id: str
    earned_at: datetime
    order_id: int | None = None
    id: int | None = None
    settled_at: datetime | None = None
