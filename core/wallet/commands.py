"""Commands and read queries of the wallet (the booking area uses `api.py` directly).

Telegram payments: the bot turns `StartPayment` into an invoice whose payload is the
returned `payment_ref`, answers `pre_checkout_query` with `CheckPayment` (a read that
refuses an unknown, paid or mismatched payment) and reports `successful_payment` with
`ConfirmPayment(gateway="telegram_stars"|"telegram_invoice", payment_ref=<payload>,
amount=<total_amount>, currency=<currency>, gateway_charge_id=<telegram_payment_charge_id>)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.messages import Command, Query
from core.shared.money import Money


@dataclass(frozen=True, kw_only=True)
class StartPayment(Command):
    """Ask a gateway how the customer pays (a QR code, an invoice, a test button)."""

    customer_id: int
    gateway: str
    amount: Money
    purpose: str = "topup"  # topup | order | tip
    order_id: int | None = None
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class CheckPayment(Command):
    """Would this payment be accepted? (Telegram's pre_checkout_query: answer within 10 s.)"""

    gateway: str
    payment_ref: str
    amount: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class ConfirmPayment(Command):
    """A gateway says the customer paid. Idempotent per (gateway, payment_ref)."""

    gateway: str
    payment_ref: str
    amount: int  # minor units, as the gateway reported them
    currency: str
    purpose: str | None = None  # when given, must match what the payment was started for
    order_id: int | None = None
    gateway_charge_id: str | None = None  # telegram_payment_charge_id, WeChat transaction_id


@dataclass(frozen=True, kw_only=True)
class RequestWithdrawal(Command):
    provider_id: int
    amount: Money
    method: str = "manual"


@dataclass(frozen=True, kw_only=True)
class ApproveWithdrawal(Command):
    withdrawal_id: int
    reference: str | None = None  # what a manual payout was paid under


@dataclass(frozen=True, kw_only=True)
class RejectWithdrawal(Command):
    withdrawal_id: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class ListWithdrawals(Query):
    status: str | None = None
    provider_id: int | None = None
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class SettleMatured(Command):
    """Make earnings older than the settlement period available (the sweeper sends this)."""

    now: datetime | None = None
    limit: int = 500


@dataclass(frozen=True, kw_only=True)
class ProcessRefunds(Command):
    """Retry refunds whose gateway could not be reached (the sweeper sends this)."""

    now: datetime | None = None
    limit: int = 20


@dataclass(frozen=True, kw_only=True)
class GetStatement(Query):
    user_id: int
    currency: str | None = None
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class ListBalances(Query):
    kind: str | None = None
    currency: str | None = None
    include_zero: bool = False


@dataclass(frozen=True, kw_only=True)
class VerifyLedger(Command):
    """Recompute every account from the transfers and report discrepancies."""


@dataclass(frozen=True, kw_only=True)
class ReverseJournal(Command):
    """Correct a journal of posted transfers with opposite transfers (reason `reversal`)."""

    journal_id: str
    reason: str
