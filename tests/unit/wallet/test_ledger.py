"""The posting rules: holds reserve money, resolve once, never overdraw, always balance."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.shared.errors import DomainError
from core.wallet.accounts import Account, AccountRef
from core.wallet.ledger import Delta, Reason, Transfer, TransferKind, apply, fingerprint

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CUSTOMER = Account(1, AccountRef.customer(7, "CNY"), credits_posted=10_000,
                   debits_must_not_exceed_credits=True)
ESCROW = Account(2, AccountRef.escrow(42, "CNY"), debits_must_not_exceed_credits=True)
FEES = Account(3, AccountRef.platform_fees("CNY"))
USD_FEES = Account(4, AccountRef.platform_fees("USD"))
ACCOUNTS = {a.id: a for a in (CUSTOMER, ESCROW, FEES, USD_FEES)}


def transfer(tid: str, debit: int, credit: int, amount: int, kind: TransferKind = TransferKind.POSTED,
             pending_id: str | None = None, currency: str = "CNY") -> Transfer:
    return Transfer(id=tid, journal_id="j", debit_account_id=debit, credit_account_id=credit,
                    amount=amount, currency=currency, kind=kind, reason=Reason.HOLD,
                    created_at=AT, pending_id=pending_id)


HOLD = transfer("h", 1, 2, 6_000, TransferKind.PENDING)


def test_a_hold_reserves_money_on_both_sides() -> None:
    deltas = apply([HOLD], ACCOUNTS, {})
    assert deltas[1] == Delta(debits_pending=6_000)
    assert deltas[2] == Delta(credits_pending=6_000)


def test_a_hold_larger_than_the_balance_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        apply([transfer("h", 1, 2, 10_001, TransferKind.PENDING)], ACCOUNTS, {})
    assert refused.value.key == "error.wallet.insufficient_balance"


def test_pending_debits_count_against_the_balance() -> None:
    second = transfer("h2", 1, 2, 4_001, TransferKind.PENDING)
    with pytest.raises(DomainError):
        apply([HOLD, second], ACCOUNTS, {})
    assert apply([HOLD, transfer("h3", 1, 2, 4_000, TransferKind.PENDING)], ACCOUNTS, {})[1] == Delta(
        debits_pending=10_000
    )


def test_a_partial_post_moves_part_and_returns_the_rest() -> None:
    post = transfer("p", 1, 2, 1_500, TransferKind.POST_PENDING, pending_id="h")
    deltas = apply([post], ACCOUNTS, {"h": HOLD})
    assert deltas[1] == Delta(debits_pending=-6_000, debits_posted=1_500)
    assert deltas[2] == Delta(credits_pending=-6_000, credits_posted=1_500)


def test_a_void_returns_everything() -> None:
    void = transfer("v", 1, 2, 6_000, TransferKind.VOID_PENDING, pending_id="h")
    assert apply([void], ACCOUNTS, {"h": HOLD})[1] == Delta(debits_pending=-6_000)


def test_a_hold_resolves_at_most_once() -> None:
    post = transfer("p", 1, 2, 6_000, TransferKind.POST_PENDING, pending_id="h")
    again = transfer("p2", 1, 2, 6_000, TransferKind.POST_PENDING, pending_id="h")
    with pytest.raises(DomainError) as refused:
        apply([post, again], ACCOUNTS, {"h": HOLD})
    assert refused.value.key == "error.wallet.hold_already_posted"


def test_posting_a_voided_hold_is_refused_clearly() -> None:
    void = transfer("v", 1, 2, 6_000, TransferKind.VOID_PENDING, pending_id="h")
    post = transfer("p", 1, 2, 6_000, TransferKind.POST_PENDING, pending_id="h")
    with pytest.raises(DomainError) as refused:
        apply([post], ACCOUNTS, {"h": HOLD}, resolved={"h": void})
    assert refused.value.key == "error.wallet.hold_voided"


def test_posting_more_than_was_held_is_refused() -> None:
    post = transfer("p", 1, 2, 6_001, TransferKind.POST_PENDING, pending_id="h")
    with pytest.raises(DomainError) as refused:
        apply([post], ACCOUNTS, {"h": HOLD})
    assert refused.value.key == "error.wallet.post_exceeds_hold"


def test_a_void_must_return_exactly_what_was_held() -> None:
    void = transfer("v", 1, 2, 5_000, TransferKind.VOID_PENDING, pending_id="h")
    with pytest.raises(DomainError):
        apply([void], ACCOUNTS, {"h": HOLD})


def test_a_post_that_names_no_hold_is_refused() -> None:
    post = transfer("p", 1, 2, 100, TransferKind.POST_PENDING, pending_id="nope")
    with pytest.raises(DomainError) as refused:
        apply([post], ACCOUNTS, {})
    assert refused.value.key == "error.wallet.hold_not_found"


@pytest.mark.parametrize("amount", [0, -5])
def test_amounts_must_be_positive(amount: int) -> None:
    with pytest.raises(DomainError) as refused:
        apply([transfer("t", 3, 1, amount)], ACCOUNTS, {})
    assert refused.value.key == "error.wallet.invalid_amount"


def test_currencies_never_mix() -> None:
    with pytest.raises(DomainError) as refused:
        apply([transfer("t", 4, 1, 100, currency="USD")], ACCOUNTS, {})
    assert refused.value.key == "error.wallet.currency_mismatch"


def test_a_transfer_needs_two_accounts() -> None:
    with pytest.raises(DomainError):
        apply([transfer("t", 3, 3, 100)], ACCOUNTS, {})


def test_every_batch_balances() -> None:
    batch = [HOLD, transfer("p", 1, 2, 2_000, TransferKind.POST_PENDING, pending_id="h"),
             transfer("f", 2, 3, 500)]
    deltas = apply(batch, ACCOUNTS, {"h": HOLD})
    for field in ("posted", "pending"):
        assert sum(getattr(d, f"debits_{field}") for d in deltas.values()) == sum(
            getattr(d, f"credits_{field}") for d in deltas.values()
        )


def test_the_platform_account_may_go_below_zero_but_a_customer_may_not() -> None:
    assert apply([transfer("t", 3, 1, 1_000_000)], ACCOUNTS, {})[3] == Delta(debits_posted=1_000_000)
    with pytest.raises(DomainError):
        apply([transfer("t", 1, 3, 10_001)], ACCOUNTS, {})


def test_a_fingerprint_tells_requests_apart_but_not_their_key_order() -> None:
    assert fingerprint("pay", a=1, b=2) == fingerprint("pay", b=2, a=1)
    assert fingerprint("pay", a=1, b=2) != fingerprint("pay", a=1, b=3)
    assert fingerprint("pay", a=1) != fingerprint("tip", a=1)
