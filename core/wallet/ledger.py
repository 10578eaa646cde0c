"""Transfers and the posting rules: the pure heart of the double-entry ledger.

Modelled on TigerBeetle's two-phase transfers:

- a `posted` transfer moves money at once;
- a `pending` transfer (a hold) reserves it: the debit account's `debits_pending` and the
  credit account's `credits_pending` grow;
- a `post_pending` transfer resolves a hold by moving all or part of it (a partial post:
  the rest simply returns, as in a cancellation fee);
- a `void_pending` transfer resolves a hold by returning all of it.

A hold resolves at most once (the storage enforces it with a unique `pending_id`, this
module refuses it first). Every transfer has one debit and one credit account of the same
currency and a positive amount, so each currency sums to zero by construction. Transfers
are append-only: a correction is a new transfer with reason `reversal`, never an update.

`apply` checks a batch of transfers against account snapshots and returns what each
account's totals change by; it raises `DomainError` and changes nothing on the first
refusal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.shared.errors import DomainError
from core.shared.ids import deterministic_id
from core.shared.money import Money
from core.wallet.accounts import Account, AccountKind, AccountRef


class TransferKind(StrEnum):
    POSTED = "posted"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"


class Reason(StrEnum):
    TOP_UP = "top_up"  # gateway money into a customer's wallet
    HOLD = "hold"  # customer wallet -> order escrow (pending)
    COUPON = "coupon"  # marketing -> order escrow (pending)
    CAPTURE = "capture"  # a hold posted on completion
    RELEASE = "release"  # a hold posted in part or voided on cancellation / dispute
    FEE = "fee"  # escrow -> platform fees (commission)
    VENUE_SHARE = "venue_share"  # escrow -> the hall's share
    EARNING = "earning"  # escrow -> provider pending earnings
    TIP = "tip"  # customer -> provider (and the platform's commission on it)
    REFUND = "refund"  # customer wallet -> gateway clearing (money back to the card)
    SETTLEMENT = "settlement"  # provider pending -> provider available
    PAYOUT = "payout"  # provider available -> payouts clearing (withdrawal)
    WITHDRAWAL_FEE = "withdrawal_fee"  # provider available -> platform fees
    REVERSAL = "reversal"  # a correction of an earlier posted transfer


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    journal_id: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    kind: TransferKind
    reason: Reason
    created_at: datetime
    pending_id: str | None = None
    order_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    def body(self) -> tuple[Any, ...]:
        """What must match for a repeated id to be the same transfer."""
        return (
            self.debit_account_id,
            self.credit_account_id,
            self.amount,
            self.currency,
            self.kind.value,
            self.reason.value,
            self.pending_id,
            self.order_id,
        )


@dataclass(frozen=True)
class Leg:
    """One transfer of a journal before it has ids: accounts by natural key."""

    reason: Reason
    amount: int
    debit: AccountRef | None = None
    credit: AccountRef | None = None
    kind: TransferKind = TransferKind.POSTED
    pending: Transfer | None = None
    order_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def posted(
        cls, debit: AccountRef, credit: AccountRef, amount: int, reason: Reason, **kw: Any
    ) -> Leg:
        return cls(reason, amount, debit, credit, TransferKind.POSTED, **kw)

    @classmethod
    def hold(
        cls, debit: AccountRef, credit: AccountRef, amount: int, reason: Reason, **kw: Any
    ) -> Leg:
        return cls(reason, amount, debit, credit, TransferKind.PENDING, **kw)

    @classmethod
    def post(cls, pending: Transfer, amount: int, reason: Reason, **kw: Any) -> Leg:
        return cls(reason, amount, None, None, TransferKind.POST_PENDING, pending, **kw)

    @classmethod
    def void(cls, pending: Transfer, reason: Reason, **kw: Any) -> Leg:
        return cls(reason, pending.amount, None, None, TransferKind.VOID_PENDING, pending, **kw)

    @property
    def adds_debit(self) -> bool:
        """Whether this leg can make its debit account owe more (what guards check)."""
        return self.kind in (TransferKind.POSTED, TransferKind.PENDING)


@dataclass
class Delta:
    """How much one account's totals change by."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def is_zero(self) -> bool:
        return not (
            self.debits_pending or self.debits_posted or self.credits_pending or self.credits_posted
        )


# Which words to use when an account would be overdrawn.
SHORTFALL_KEYS: Mapping[AccountKind, str] = {
    AccountKind.CUSTOMER_WALLET: "error.wallet.insufficient_balance",
    AccountKind.PROVIDER_AVAILABLE: "error.wallet.insufficient_earnings",
    AccountKind.PROVIDER_PENDING: "error.wallet.insufficient_earnings",
    AccountKind.ORDER_ESCROW: "error.wallet.refund_exceeds_paid",
}


def transfer_id(journal_id: str, index: int) -> str:
    """Leg `index` of a journal: deterministic, so a replayed journal has the same ids."""
    return deterministic_id("transfer", journal_id, index)


def fingerprint(operation: str, **params: Any) -> str:
    """A stable digest of a request, to tell a replay from a different request with a reused key."""
    canonical = json.dumps(
        {"operation": operation, **params}, sort_keys=True, separators=(",", ":"), default=_plain
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Money):
        return [value.amount, value.currency]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def check_pending_resolution(
    transfer: Transfer, pending: Transfer | None, resolution: Transfer | None
) -> None:
    """Refuse a post/void that names no hold, a resolved hold, or more than was held."""
    if pending is None or pending.kind is not TransferKind.PENDING:
        raise DomainError("error.wallet.hold_not_found", hold=transfer.pending_id or "")
    if resolution is not None:
        if resolution.kind is TransferKind.VOID_PENDING:
            raise DomainError("error.wallet.hold_voided", hold=pending.id)
        raise DomainError("error.wallet.hold_already_posted", hold=pending.id)
    if (transfer.debit_account_id, transfer.credit_account_id, transfer.currency) != (
        pending.debit_account_id,
        pending.credit_account_id,
        pending.currency,
    ):
        raise DomainError("error.wallet.hold_mismatch", hold=pending.id)
    if transfer.kind is TransferKind.POST_PENDING and transfer.amount > pending.amount:
        raise DomainError(
            "error.wallet.post_exceeds_hold", hold=pending.id, held=pending.money,
            requested=transfer.money,
        )
    if transfer.kind is TransferKind.VOID_PENDING and transfer.amount != pending.amount:
        raise DomainError("error.wallet.hold_mismatch", hold=pending.id)


def apply(
    transfers: Sequence[Transfer],
    accounts: Mapping[int, Account],
    pendings: Mapping[str, Transfer],
    resolved: Mapping[str, Transfer] | None = None,
) -> dict[int, Delta]:
    """Check `transfers` in order against `accounts` and return each account's change.

    `pendings` maps the id of every hold a post/void in the batch names to that hold;
    `resolved` maps hold ids already resolved before this batch to their resolution.
    Guarded accounts are checked against their snapshot plus the batch's earlier legs, so the
    snapshot of every guarded account a leg debits must be fresh (locked) — see `Ledger`.
    """
    deltas: dict[int, Delta] = {}
    resolutions: dict[str, Transfer] = dict(resolved or {})
    for transfer in transfers:
        if transfer.amount <= 0:
            raise DomainError("error.wallet.invalid_amount", amount=transfer.amount)
        if transfer.debit_account_id == transfer.credit_account_id:
            raise DomainError("error.wallet.same_account", transfer=transfer.id)
        d = deltas.setdefault(transfer.debit_account_id, Delta())
        c = deltas.setdefault(transfer.credit_account_id, Delta())
        if transfer.kind in (TransferKind.POST_PENDING, TransferKind.VOID_PENDING):
            # The hold's accounts and currency were checked when it was made; posting or
            # voiding never makes an account owe more, so no guard needs its snapshot.
            pending = pendings.get(transfer.pending_id or "")
            check_pending_resolution(transfer, pending, resolutions.get(transfer.pending_id or ""))
            assert pending is not None
            resolutions[pending.id] = transfer
            d.debits_pending -= pending.amount
            c.credits_pending -= pending.amount
            if transfer.kind is TransferKind.POST_PENDING:
                d.debits_posted += transfer.amount
                c.credits_posted += transfer.amount
            continue
        debit = accounts[transfer.debit_account_id]
        credit = accounts[transfer.credit_account_id]
        if not debit.currency == credit.currency == transfer.currency:
            raise DomainError(
                "error.wallet.currency_mismatch", expected=debit.currency, got=transfer.currency
            )
        if transfer.kind is TransferKind.POSTED:
            d.debits_posted += transfer.amount
            c.credits_posted += transfer.amount
        else:
            d.debits_pending += transfer.amount
            c.credits_pending += transfer.amount
        _guard(debit, d, transfer)
        _guard_credit(credit, c, transfer)
    return {account_id: delta for account_id, delta in deltas.items() if not delta.is_zero()}


def _guard(account: Account, delta: Delta, transfer: Transfer) -> None:
    if not account.debits_must_not_exceed_credits:
        return
    debits = account.debits_pending + delta.debits_pending + account.debits_posted + delta.debits_posted
    credits = account.credits_posted + delta.credits_posted
    if debits > credits:
        available = credits - (debits - transfer.amount)
        raise DomainError(
            SHORTFALL_KEYS.get(account.ref.kind, "error.wallet.insufficient_funds"),
            available=Money(max(available, 0), account.currency),
            needed=transfer.money,
        )


def _guard_credit(account: Account, delta: Delta, transfer: Transfer) -> None:
    if not account.credits_must_not_exceed_debits:
        return
    credits = (
        account.credits_pending + delta.credits_pending + account.credits_posted + delta.credits_posted
    )
    if credits > account.debits_posted + delta.debits_posted:
        raise DomainError("error.wallet.insufficient_funds", needed=transfer.money,
                          available=Money(0, account.currency))
