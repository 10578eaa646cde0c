"""What the wallet needs from outside: its repositories and the payment gateways.

Repositories are attributes of the unit of work: `uow.ledger` (accounts, transfers,
journals, earnings), `uow.payments` (gateway payments, refunds, alerts) and
`uow.withdrawals`. `PaymentGateway` is the port every payment provider sits behind (the
sandbox, Telegram Stars and provider-token invoices, WeChat Pay); `TelegramRefunds` is the
one thing the Telegram gateways need from the Telegram adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet.accounts import Account, AccountKind, AccountRef
from core.wallet.ledger import Delta, Transfer
from core.wallet.model import Earning, Payment, PaymentAlert, Refund, Withdrawal


@dataclass(frozen=True)
class JournalRecord:
    """One business operation's transfers, keyed by its idempotency key."""

    id: str
    operation: str
    fingerprint: str
    created_at: datetime
    order_id: int | None = None
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Opening:
    """What a flow reads before it records a journal: its locked accounts, the journal if
    the request was recorded before, and (when asked) the order's open holds, all as seen
    once the locks are held."""

    locked: list[Account]
    journal: JournalRecord | None
    holds: list[Transfer] | None = None
    ids: Mapping[AccountRef, int] = field(default_factory=dict)  # of the `ensure` accounts


class LedgerRepository(Protocol):
    async def lock(self, refs: Iterable[AccountRef]) -> dict[AccountRef, Account]:
        """Get or create the accounts and lock them until the transaction ends."""
        ...

    async def lock_owner(self, kind: AccountKind, owner_id: int) -> list[Account]:
        """Lock the existing accounts of one owner (e.g. an order's escrow, any currency)."""
        ...

    async def account_ids(self, refs: Iterable[AccountRef]) -> dict[AccountRef, int]:
        """Get or create the accounts without locking them; only their ids (which never
        change) are returned, so the repository may answer from memory."""
        ...

    async def open(
        self,
        journal_id: str,
        *,
        lock: Sequence[AccountRef] = (),
        lock_owner: tuple[AccountKind, int] | None = None,
        holds_of: int | None = None,
        ensure: Sequence[AccountRef] = (),
    ) -> Opening:
        """Lock `lock` (get-or-create) and the existing accounts of `lock_owner`, then read
        the journal `journal_id` and, with `holds_of`, that order's open holds. The reads
        are as fresh as if made after the locks were granted. `ensure`: accounts the flow
        will only credit (or are unguarded), got or created without a lock; their ids are in
        `Opening.ids` (any missing there are left to `account_ids`)."""
        ...

    async def accounts_of(
        self, kinds: Sequence[AccountKind], owner_id: int, currency: str | None = None
    ) -> list[Account]: ...
    async def list_accounts(
        self, kind: AccountKind | None = None, currency: str | None = None
    ) -> list[Account]: ...
    async def journal(self, journal_id: str) -> JournalRecord | None: ...
    async def journal_transfers(self, journal_id: str) -> list[Transfer]: ...
    async def open_holds(self, order_id: int) -> list[Transfer]:
        """Unresolved pending transfers into the order's escrow (holds and coupons)."""
        ...

    async def transfers(self, ids: Iterable[str]) -> dict[str, Transfer]: ...
    async def resolutions(self, pending_ids: Iterable[str]) -> dict[str, Transfer]: ...
    async def write(
        self, journal: JournalRecord, transfers: Sequence[Transfer], deltas: Mapping[int, Delta],
        earning: Earning | None = None,
    ) -> None:
        """Append the journal and its transfers and apply the deltas, atomically; with
        `earning`, add it as `add_earning` would, in the same step."""
        ...

    async def history(self, account_ids: Sequence[int], limit: int) -> list[Transfer]: ...
    def stream_ledger(self, batch_size: int = 5000) -> AsyncIterator[list[Account | Transfer]]:
        """Every account, then every transfer in ledger order, from one consistent snapshot."""
        ...

    async def add_earning(self, earning: Earning) -> None: ...
    async def due_earnings(self, earned_before: datetime, limit: int) -> list[Earning]: ...
    async def mark_settled(self, earning_id: int, at: datetime) -> None: ...
    async def unsettled_total(self, provider_id: int, currency: str) -> int: ...


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> Payment: ...
    async def claim(self, payment: Payment) -> tuple[Payment, bool]:
        """Store `payment` as it is if (gateway, payment_ref) is new and return it with True;
        else return the stored one, locked until the transaction ends, with False."""
        ...

    async def get(self, gateway: str, payment_ref: str, *, for_update: bool = False) -> Payment | None: ...
    async def for_order(self, order_id: int, *, for_update: bool = False) -> list[Payment]: ...
    async def save(self, payment: Payment) -> None: ...
    async def record_alert(self, alert: PaymentAlert) -> bool:
        """Store an alert once per (gateway, payment_ref, problem); True when it is new."""
        ...

    async def alerts(self, limit: int = 50) -> list[PaymentAlert]: ...
    async def add_refund(self, refund: Refund) -> Refund: ...
    async def get_refund(self, refund_id: int, *, for_update: bool = False) -> Refund | None: ...
    async def save_refund(self, refund: Refund) -> None: ...
    async def refunds_waiting(self, requested_before: datetime, limit: int) -> list[int]: ...


class WithdrawalRepository(Protocol):
    async def add(self, withdrawal: Withdrawal) -> Withdrawal: ...
    async def get(self, withdrawal_id: int, *, for_update: bool = False) -> Withdrawal: ...
    async def save(self, withdrawal: Withdrawal) -> None: ...
    async def list(
        self, status: str | None = None, provider_id: int | None = None, limit: int = 50
    ) -> list[Withdrawal]: ...
    async def requested_since(self, provider_id: int, currency: str, since: datetime) -> int:
        """The total of requested and paid (not rejected) withdrawals since `since`."""
        ...


# -- gateways --------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRequest:
    payment_ref: str  # ours; the gateway's out_trade_no / invoice payload
    amount: Money
    description: str
    customer_id: int
    purpose: str  # "order" | "topup" | "tip"
    order_id: int | None = None


@dataclass(frozen=True)
class PaymentInstructions:
    """How the customer pays: a QR code URL, an invoice payload, a test button."""

    gateway: str
    payment_ref: str
    amount: Money
    is_test: bool
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundRequest:
    refund_ref: str  # ours, deterministic: the gateway deduplicates on it
    payment_ref: str
    gateway_charge_id: str | None  # the gateway's id of the charge (Telegram, WeChat)
    customer_id: int
    amount: Money  # to refund now
    payment_amount: Money  # the whole original charge (WeChat wants it)


@dataclass(frozen=True)
class PayoutRequest:
    payout_ref: str  # ours, deterministic: the gateway deduplicates on it
    provider_id: int
    amount: Money
    reference: str | None = None  # what the operator says they paid with (manual payouts)


@dataclass(frozen=True)
class GatewayResult:
    """A definitive answer: done (with the gateway's reference) or refused (with why)."""

    ok: bool
    reference: str | None = None
    failure: str | None = None


class GatewayUnavailable(DomainError):
    """The gateway could not be reached or answered nonsense: try again later."""

    def __init__(self, gateway: str, detail: str = "") -> None:
        super().__init__("error.wallet.gateway_unavailable", gateway=gateway, detail=detail)


class GatewayRefused(Exception):
    """Raised by adapters behind a gateway for a definitive refusal (e.g. already refunded)."""


class PaymentGateway(Protocol):
    name: str
    is_test: bool  # a test gateway: every screen says so
    currencies: frozenset[str]
    supports_payout: bool

    async def create_payment(self, request: PaymentRequest) -> PaymentInstructions: ...
    async def refund(self, request: RefundRequest) -> GatewayResult: ...
    async def payout(self, request: PayoutRequest) -> GatewayResult: ...


class TelegramRefunds(Protocol):
    """Implemented by the Telegram adapter with `refundStarPayment`."""

    async def refund_star_payment(self, customer_id: int, telegram_payment_charge_id: str) -> None:
        """Refund a Stars charge in full; raise GatewayRefused when Telegram says no."""
        ...
