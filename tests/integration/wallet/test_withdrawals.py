"""Settlement and withdrawals: earnings mature, are held when requested, paid or released once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import bootstrap
from app.settings import Settings
from core.shared.clock import FixedClock
from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet import commands as c
from core.wallet.model import WithdrawalStatus
from core.wallet.policy import WalletPolicy
from tests.integration.wallet.conftest import WalletDriver

CUSTOMER, PROVIDER = 100, 500


def cny(amount: int) -> Money:
    return Money(amount, "CNY")


async def earn(wallet: WalletDriver, clock: FixedClock, amount: int, order_id: int = 1) -> None:
    """The provider earns `amount` (no commission) and it settles."""
    await wallet.top_up(CUSTOMER, amount)
    await wallet.pay(order_id, CUSTOMER, amount)
    await wallet.capture(order_id, PROVIDER, commission_bps=0)


async def test_earnings_become_available_after_the_settlement_period(
    wallet: WalletDriver, clock: FixedClock
) -> None:
    await earn(wallet, clock, 10_000)
    clock.advance(timedelta(days=6, hours=23))
    report = await wallet.bus.handle(c.SettleMatured())
    assert report.earnings_settled == 0
    clock.advance(timedelta(hours=1))
    report = await wallet.bus.handle(c.SettleMatured())
    assert (report.earnings_settled, report.providers, report.amounts) == (1, 1, (cny(10_000),))
    again = await wallet.bus.handle(c.SettleMatured())
    assert again.earnings_settled == 0
    balance = await wallet.balance(PROVIDER)
    assert (balance.earnings_pending, balance.earnings_available) == (cny(0), cny(10_000))
    assert (await wallet.outbox_names()).count("EarningsSettled") == 1
    await wallet.assert_balanced()


async def settled(wallet: WalletDriver, clock: FixedClock, amount: int) -> None:
    await earn(wallet, clock, amount)
    clock.advance(timedelta(days=7))
    await wallet.bus.handle(c.SettleMatured())


async def test_a_withdrawal_holds_the_amount_and_an_approval_pays_it_out(
    wallet: WalletDriver, clock: FixedClock
) -> None:
    await settled(wallet, clock, 20_000)
    withdrawal = await wallet.bus.handle(c.RequestWithdrawal(
        provider_id=PROVIDER, amount=cny(10_000), method="sandbox", actor_id=None))
    assert (withdrawal.fee, withdrawal.payout) == (cny(100), cny(9_900))
    balance = await wallet.balance(PROVIDER)
    assert (balance.earnings_available, balance.withdrawing) == (cny(10_000), cny(10_000))
    paid = await wallet.bus.handle(c.ApproveWithdrawal(withdrawal_id=withdrawal.id))
    assert paid.status is WithdrawalStatus.PAID and paid.payout_ref == f"sandbox-wd{withdrawal.id}"
    assert [(p.payout_ref, p.amount) for p in wallet.sandbox.payouts] == [
        (f"wd{withdrawal.id}", cny(9_900))]
    balance = await wallet.balance(PROVIDER)
    assert (balance.earnings_available, balance.withdrawing) == (cny(10_000), cny(0))
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.ApproveWithdrawal(withdrawal_id=withdrawal.id))
    assert refused.value.key == "error.wallet.withdrawal_already_decided"
    with pytest.raises(DomainError):
        await wallet.bus.handle(c.RejectWithdrawal(withdrawal_id=withdrawal.id, reason="late"))
    assert len(wallet.sandbox.payouts) == 1
    await wallet.assert_balanced()


async def test_a_rejected_withdrawal_releases_the_money(wallet: WalletDriver, clock: FixedClock) -> None:
    await settled(wallet, clock, 20_000)
    withdrawal = await wallet.bus.handle(c.RequestWithdrawal(
        provider_id=PROVIDER, amount=cny(20_000), method="manual"))
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.RequestWithdrawal(provider_id=PROVIDER, amount=cny(1_000),
                                                    method="manual"))
    assert refused.value.key == "error.wallet.insufficient_earnings"
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.RejectWithdrawal(withdrawal_id=withdrawal.id, reason="  "))
    assert refused.value.key == "error.wallet.reason_required"
    rejected = await wallet.bus.handle(c.RejectWithdrawal(withdrawal_id=withdrawal.id,
                                                          reason="account name mismatch"))
    assert rejected.status is WithdrawalStatus.REJECTED
    balance = await wallet.balance(PROVIDER)
    assert (balance.earnings_available, balance.withdrawing) == (cny(20_000), cny(0))
    assert "WithdrawalRejected" in await wallet.outbox_names()
    await wallet.assert_balanced()


async def test_manual_payouts_need_a_reference_and_keep_it(wallet: WalletDriver, clock: FixedClock) -> None:
    await settled(wallet, clock, 5_000)
    withdrawal = await wallet.bus.handle(c.RequestWithdrawal(provider_id=PROVIDER,
                                                             amount=cny(5_000)))
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.ApproveWithdrawal(withdrawal_id=withdrawal.id))
    assert refused.value.key == "error.wallet.payout_reference_required"
    paid = await wallet.bus.handle(c.ApproveWithdrawal(withdrawal_id=withdrawal.id,
                                                       reference="ICBC-2026-0001"))
    assert paid.payout_ref == "ICBC-2026-0001"
    listed = await wallet.bus.handle(c.ListWithdrawals(status="paid"))
    assert [w.id for w in listed] == [withdrawal.id]


async def test_withdrawal_minimum_daily_limit_and_unpaid_earnings(
    settings: Settings, engine: AsyncEngine, clock: FixedClock
) -> None:
    policy = WalletPolicy(withdrawal_daily_limit={"CNY": 6_000})
    wallet = WalletDriver(bootstrap(settings, clock=clock, engine=engine,
                                    overrides={"wallet_policy": policy}))
    await earn(wallet, clock, 10_000)
    with pytest.raises(DomainError) as refused:  # earned but not settled yet
        await wallet.bus.handle(c.RequestWithdrawal(provider_id=PROVIDER, amount=cny(5_000)))
    assert refused.value.key == "error.wallet.insufficient_earnings"
    clock.advance(timedelta(days=7))
    await wallet.bus.handle(c.SettleMatured())
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.RequestWithdrawal(provider_id=PROVIDER, amount=cny(999)))
    assert refused.value.key == "error.wallet.withdrawal_below_minimum"
    await wallet.bus.handle(c.RequestWithdrawal(provider_id=PROVIDER, amount=cny(5_000),
                                                method="sandbox"))
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.RequestWithdrawal(provider_id=PROVIDER, amount=cny(1_001),
                                                    method="sandbox"))
    assert refused.value.key == "error.wallet.withdrawal_over_daily_limit"
    assert refused.value.params["left"] == cny(1_000)
    clock.advance(timedelta(hours=24))
    await wallet.bus.handle(c.RequestWithdrawal(provider_id=PROVIDER, amount=cny(5_000),
                                                method="sandbox"))
    await wallet.assert_balanced()


async def test_a_failed_payout_leaves_the_withdrawal_waiting(wallet: WalletDriver, clock: FixedClock) -> None:
    await settled(wallet, clock, 5_000)
    withdrawal = await wallet.bus.handle(c.RequestWithdrawal(provider_id=PROVIDER,
                                                             amount=cny(5_000), method="sandbox"))
    wallet.sandbox.refuse_payouts = "account frozen"
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.ApproveWithdrawal(withdrawal_id=withdrawal.id))
    assert refused.value.key == "error.wallet.payout_failed"
    (waiting,) = await wallet.bus.handle(c.ListWithdrawals(status="requested"))
    assert waiting.id == withdrawal.id
    await wallet.assert_balanced()


async def test_a_statement_shows_balances_and_history_with_order_refs(wallet: WalletDriver) -> None:
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(42, CUSTOMER, 6_000)
    statement = await wallet.bus.handle(c.GetStatement(user_id=CUSTOMER))
    (balance,) = statement.balances
    assert (balance.wallet, balance.wallet_held) == (cny(10_000), cny(6_000))
    assert [(line.reason, line.amount, line.order_id) for line in statement.lines] == [
        ("hold", cny(-6_000), 42), ("top_up", cny(10_000), None)]
    balances = await wallet.bus.handle(c.ListBalances(kind="customer_wallet"))
    assert [(b.owner_id, b.balance) for b in balances] == [(CUSTOMER, cny(10_000))]
    with pytest.raises(DomainError):
        await wallet.bus.handle(c.ListBalances(kind="piggy_bank"))


async def test_a_journal_is_reversed_with_new_transfers_once(wallet: WalletDriver) -> None:
    ref = await wallet.top_up(CUSTOMER, 1_000)
    await wallet.bus.handle(c.ReverseJournal(journal_id=f"payment:sandbox:{ref}", reason="test charge"))
    assert (await wallet.balance(CUSTOMER)).wallet == cny(0)
    with pytest.raises(DomainError) as refused:
        await wallet.bus.handle(c.ReverseJournal(journal_id=f"payment:sandbox:{ref}", reason="again"))
    assert refused.value.key == "error.wallet.already_reversed"
    await wallet.assert_balanced()
