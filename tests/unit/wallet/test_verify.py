"""Reconciliation finds every kind of corruption and passes a healthy ledger."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from core.wallet.accounts import Account, AccountRef
from core.wallet.ledger import Reason, Transfer, TransferKind
from core.wallet.verify import LedgerVerifier

AT = datetime(2026, 1, 5, tzinfo=UTC)


def t(tid: str, debit: int, credit: int, amount: int, kind: TransferKind = TransferKind.POSTED,
      pending_id: str | None = None) -> Transfer:
    return Transfer(id=tid, journal_id="j", debit_account_id=debit, credit_account_id=credit,
                    amount=amount, currency="CNY", kind=kind, reason=Reason.HOLD, created_at=AT,
                    pending_id=pending_id)


GATEWAY = Account(1, AccountRef.gateway("sandbox", "CNY"), debits_posted=10_000)
CUSTOMER = Account(2, AccountRef.customer(7, "CNY"), credits_posted=10_000, debits_posted=2_000,
                   debits_must_not_exceed_credits=True)
ESCROW = Account(3, AccountRef.escrow(42, "CNY"), credits_posted=2_000, debits_posted=2_000,
                 debits_must_not_exceed_credits=True)
FEES = Account(4, AccountRef.platform_fees("CNY"), credits_posted=2_000)
HEALTHY = [
    t("top", 1, 2, 10_000),
    t("hold", 2, 3, 5_000, TransferKind.PENDING),
    t("post", 2, 3, 2_000, TransferKind.POST_PENDING, "hold"),
    t("fee", 3, 4, 2_000),
]


def verify(accounts: list[Account], transfers: list[Transfer]) -> list[str]:
    verifier = LedgerVerifier.of(accounts)
    verifier.feed(transfers)
    report = verifier.report()
    assert report.accounts_checked == len(accounts)
    assert report.transfers_checked == len(transfers)
    return [d.code for d in report.discrepancies]


def test_a_healthy_ledger_has_no_discrepancy() -> None:
    verifier = LedgerVerifier.of([GATEWAY, CUSTOMER, ESCROW, FEES])
    verifier.feed(HEALTHY)
    report = verifier.report()
    assert report.ok
    assert report.holds_open == 0
    (cny,) = report.currencies
    assert cny.balanced and cny.debits_posted == cny.credits_posted == 14_000


def test_a_stored_total_that_disagrees_with_the_transfers_is_found() -> None:
    tampered = dataclasses.replace(CUSTOMER, credits_posted=11_000)
    assert verify([GATEWAY, tampered, ESCROW, FEES], HEALTHY) == [
        "total_mismatch", "currency_unbalanced"
    ]


def test_a_hold_resolved_twice_is_found() -> None:
    twice = [*HEALTHY, t("again", 2, 3, 3_000, TransferKind.VOID_PENDING, "hold")]
    assert "hold_resolved_twice" in verify([GATEWAY, CUSTOMER, ESCROW, FEES], twice)


def test_a_post_above_its_hold_and_a_missing_hold_are_found() -> None:
    bad = [t("top", 1, 2, 10_000), t("hold", 2, 3, 1_000, TransferKind.PENDING),
           t("post", 2, 3, 2_000, TransferKind.POST_PENDING, "hold"), t("fee", 3, 4, 2_000),
           t("ghost", 2, 3, 5, TransferKind.POST_PENDING, "nothing")]
    found = verify([GATEWAY, CUSTOMER, ESCROW, FEES], bad)
    assert "post_exceeds_hold" in found and "hold_missing" in found


def test_an_overdrawn_guarded_account_is_found() -> None:
    customer = dataclasses.replace(CUSTOMER, debits_posted=12_000)
    gateway = dataclasses.replace(GATEWAY, credits_posted=0)
    fees = dataclasses.replace(FEES, credits_posted=12_000)
    transfers = [t("top", 1, 2, 10_000), t("spend", 2, 4, 12_000)]
    found = verify([gateway, customer, dataclasses.replace(ESCROW, credits_posted=0, debits_posted=0), fees], transfers)
    assert found == ["overdrawn"]


def test_a_transfer_on_an_unknown_account_is_found() -> None:
    assert verify([GATEWAY], [t("x", 1, 99, 5)]) == ["unknown_account", "total_mismatch", "currency_unbalanced"]
