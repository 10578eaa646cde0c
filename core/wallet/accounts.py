"""Ledger accounts: who an account belongs to, its four running totals and its balance rule.

An account is identified by (kind, owner id, qualifier, currency): a customer's CNY wallet is
`(customer_wallet, 12, "", "CNY")`, the WeChat Pay clearing account is
`(gateway_clearing, 0, "wechat_pay", "CNY")`. Like TigerBeetle, an account keeps
`debits_pending`, `debits_posted`, `credits_pending` and `credits_posted`; balances are
derived, never stored.

Accounts that hold somebody's money (a customer's wallet, a provider's earnings, an
order's escrow) are credit-normal and carry the flag "debits must not exceed credits": the
sum of posted and pending debits may never exceed posted credits, so nobody can spend money
that is merely on its way in, and a hold reserves money as firmly as a payment.

The platform's own accounts (fees, venue shares, gateway clearing, payouts clearing,
marketing) carry no flag. They are "hot": touched by nearly every operation, so the ledger
updates them with atomic increments at the end of a transaction instead of locking them for
its whole length (see `storage/repositories/wallet.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.shared.money import Money, check_currency


class AccountKind(StrEnum):
    CUSTOMER_WALLET = "customer_wallet"  # owner: user id
    PROVIDER_PENDING = "provider_pending"  # owner: provider (user) id; earned, not yet settled
    PROVIDER_AVAILABLE = "provider_available"  # owner: provider id; may be withdrawn
    ORDER_ESCROW = "order_escrow"  # owner: order id
    PLATFORM_FEES = "platform_fees"  # owner 0
    VENUE_SHARE = "venue_share"  # owner: venue id
    GATEWAY_CLEARING = "gateway_clearing"  # owner 0, qualifier: gateway name
    PAYOUTS_CLEARING = "payouts_clearing"  # owner 0, qualifier: payout method
    MARKETING = "marketing"  # owner 0; funds coupons


# Money owed to a person or held for an order: never below zero.
GUARDED_KINDS: frozenset[AccountKind] = frozenset(
    {
        AccountKind.CUSTOMER_WALLET,
        AccountKind.PROVIDER_PENDING,
        AccountKind.PROVIDER_AVAILABLE,
        AccountKind.ORDER_ESCROW,
    }
)

# Accounts a statement of one user covers.
USER_KINDS: tuple[AccountKind, ...] = (
    AccountKind.CUSTOMER_WALLET,
    AccountKind.PROVIDER_PENDING,
    AccountKind.PROVIDER_AVAILABLE,
)

# Where money enters or leaves the platform: the "money in / money out" side of the ledger.
EXTERNAL_KINDS: frozenset[AccountKind] = frozenset(
    {AccountKind.GATEWAY_CLEARING, AccountKind.PAYOUTS_CLEARING, AccountKind.MARKETING}
)


@dataclass(frozen=True, slots=True, order=True)
class AccountRef:
    """The natural key of an account."""

    kind: AccountKind
    owner_id: int
    currency: str
    qualifier: str = ""

    def __post_init__(self) -> None:
        check_currency(self.currency)

    @property
    def guarded(self) -> bool:
        return self.kind in GUARDED_KINDS

    @classmethod
    def customer(cls, user_id: int, currency: str) -> AccountRef:
        return cls(AccountKind.CUSTOMER_WALLET, user_id, currency)

    @classmethod
    def provider_pending(cls, provider_id: int, currency: str) -> AccountRef:
        return cls(AccountKind.PROVIDER_PENDING, provider_id, currency)

    @classmethod
    def provider_available(cls, provider_id: int, currency: str) -> AccountRef:
        return cls(AccountKind.PROVIDER_AVAILABLE, provider_id, currency)

    @classmethod
    def escrow(cls, order_id: int, currency: str) -> AccountRef:
        return cls(AccountKind.ORDER_ESCROW, order_id, currency)

    @classmethod
    def platform_fees(cls, currency: str) -> AccountRef:
        return cls(AccountKind.PLATFORM_FEES, 0, currency)

    @classmethod
    def venue(cls, venue_id: int, currency: str) -> AccountRef:
        return cls(AccountKind.VENUE_SHARE, venue_id, currency)

    @classmethod
    def gateway(cls, gateway: str, currency: str) -> AccountRef:
        return cls(AccountKind.GATEWAY_CLEARING, 0, currency, gateway)

    @classmethod
    def payouts(cls, method: str, currency: str) -> AccountRef:
        return cls(AccountKind.PAYOUTS_CLEARING, 0, currency, method)

    @classmethod
    def marketing(cls, currency: str) -> AccountRef:
        return cls(AccountKind.MARKETING, 0, currency)

    def __str__(self) -> str:
        owner = self.qualifier or str(self.owner_id)
        return f"{self.kind.value}:{owner}:{self.currency}"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    ref: AccountRef
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False
    version: int = 0

    @property
    def currency(self) -> str:
        return self.ref.currency

    @property
    def balance(self) -> Money:
        """Posted credits minus posted debits: what the owner has (credit-normal view)."""
        return Money(self.credits_posted - self.debits_posted, self.currency)

    @property
    def available(self) -> Money:
        """What may still be debited: the balance less outgoing holds."""
        return Money(
            self.credits_posted - self.debits_posted - self.debits_pending, self.currency
        )

    @property
    def incoming(self) -> Money:
        return Money(self.credits_pending, self.currency)

    @property
    def outgoing(self) -> Money:
        return Money(self.debits_pending, self.currency)


def flags_for(kind: AccountKind) -> tuple[bool, bool]:
    """(debits_must_not_exceed_credits, credits_must_not_exceed_debits) for a new account."""
    return (kind in GUARDED_KINDS, False)
