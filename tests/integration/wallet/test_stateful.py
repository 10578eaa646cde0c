"""Random sequences of money operations keep the ledger's invariants, on both databases.

A hypothesis state machine pays for orders (from the wallet or a gateway, with extensions),
captures them, cancels them with a fee or in full (refunding to the wallet or the original
gateway), replays calls, tips, tops up, settles, withdraws, approves and rejects. A plain
model tracks what every customer and provider should have. After every step:

- `VerifyLedger` finds no discrepancy: every currency sums to zero, stored totals equal the
  transfers, no hold is resolved twice, no guarded account is overdrawn;
- no customer or provider balance is below zero;
- money in = money out + balances (gateway money in, less refunds, equals payouts plus
  everything held inside the platform);
- every balance equals the model's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from app.bootstrap import bootstrap
from app.settings import Settings
from core.shared.clock import FixedClock
from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet import api
from core.wallet import commands as c
from core.wallet.accounts import EXTERNAL_KINDS, GUARDED_KINDS, AccountKind
from storage.db import create_engine
from storage.repositories.wallet import forget_account_ids
from storage.tables import metadata
from tests.integration.wallet.conftest import WalletDriver

T = TypeVar("T")
CUSTOMERS = (1, 2, 3)
PROVIDERS = (10, 11)
COMMISSION = 2_000
FEE_BPS = 100


@dataclass
class Order:
    customer: int
    holds: list[tuple[str | None, int]] = field(default_factory=list)  # (gateway ref, amount)
    open: bool = True

    @property
    def held(self) -> int:
        return sum(amount for _, amount in self.holds)


@dataclass
class Model:
    wallet: dict[int, int] = field(default_factory=lambda: dict.fromkeys(CUSTOMERS, 0))
    pending: dict[int, int] = field(default_factory=lambda: dict.fromkeys(PROVIDERS, 0))
    available: dict[int, int] = field(default_factory=lambda: dict.fromkeys(PROVIDERS, 0))
    withdrawing: dict[int, int] = field(default_factory=lambda: dict.fromkeys(PROVIDERS, 0))
    unsettled: list[tuple[int, int]] = field(default_factory=list)  # (provider, amount)
    orders: dict[int, Order] = field(default_factory=dict)
    withdrawals: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (provider, amount)
    money_in: int = 0  # gateway payments less gateway refunds
    money_out: int = 0  # payouts
    refundable: dict[str, int] = field(default_factory=dict)  # gateway ref -> still refundable
    paid: dict[str, int] = field(default_factory=dict)  # gateway ref -> paid through it

    def held_by(self, customer: int) -> int:
        return sum(o.held for o in self.orders.values() if o.open and o.customer == customer)


def test_random_operations_keep_the_ledger_invariants(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    engine = create_engine(database_url)
    app_settings = Settings(_env_file=None, mode="demo", database_url=database_url)  # type: ignore[call-arg]

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(coro)

    async def wipe() -> None:
        async with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(sa.delete(table))
        # Ledger accounts are never deleted in service; the repository remembers their ids.
        forget_account_ids(engine)

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            run(wipe())
            self.clock = FixedClock()
            self.wallet = WalletDriver(bootstrap(app_settings, clock=self.clock, engine=engine))
            self.model = Model()
            self.next_order = 1
            self.refs = 0
            self.last_pay: dict[str, Any] | None = None

        # -- helpers -------------------------------------------------------------------

        def ref(self) -> str:
            self.refs += 1
            return f"gw-{self.refs}"

        def refused(self, coro: Coroutine[Any, Any, Any]) -> str | None:
            try:
                run(coro)
            except DomainError as error:
                return error.key
            return None

        def open_order(self, pick: int) -> tuple[int, Order] | None:
            candidates = sorted((i, o) for i, o in self.model.orders.items() if o.open)
            return candidates[pick % len(candidates)] if candidates else None

        def earn(self, provider: int, amount: int) -> None:
            if amount > 0:
                self.model.pending[provider] += amount
                self.model.unsettled.append((provider, amount))

        # -- money in ------------------------------------------------------------------

        @rule(customer=st.sampled_from(CUSTOMERS), amount=st.integers(1, 20_000))
        def top_up(self, customer: int, amount: int) -> None:
            run(self.wallet.top_up(customer, amount))
            self.model.wallet[customer] += amount
            self.model.money_in += amount

        @rule(customer=st.sampled_from(CUSTOMERS), amount=st.integers(1, 15_000),
              by_gateway=st.booleans(), extend=st.booleans(), pick=st.integers(0, 50))
        def pay(self, customer: int, amount: int, by_gateway: bool, extend: bool, pick: int) -> None:
            existing = self.open_order(pick) if extend else None
            if existing is not None:
                order_id, order = existing
                customer = order.customer
            else:
                order_id, order = self.next_order, Order(customer)
            ref = self.ref() if by_gateway or existing is not None else None
            call = {"order_id": order_id, "customer_id": customer, "amount": amount,
                    "method": "sandbox" if by_gateway else "wallet", "payment_ref": ref}
            key = self.refused(self.wallet.pay(**call))
            if not by_gateway and amount > self.model.wallet[customer] - self.model.held_by(customer):
                assert key == "error.wallet.insufficient_balance"
                return
            assert key is None
            if by_gateway:
                self.model.wallet[customer] += amount
                self.model.money_in += amount
                assert ref is not None
                self.model.refundable[ref] = self.model.paid[ref] = amount
            order.holds.append((ref if by_gateway else None, amount))
            if existing is None:
                self.model.orders[order_id] = order
                self.next_order += 1
            self.last_pay = call

        @rule()
        def replay_last_payment(self) -> None:
            """The same call again (a retried command) changes nothing."""
            if self.last_pay is not None:
                assert self.refused(self.wallet.pay(**self.last_pay)) is None

        # -- completing, cancelling --------------------------------------------------------

        @rule(pick=st.integers(0, 50), provider=st.sampled_from(PROVIDERS))
        def capture(self, pick: int, provider: int) -> None:
            found = self.open_order(pick)
            if found is None:
                return
            order_id, order = found
            split = run(self.wallet.capture(order_id, provider, commission_bps=COMMISSION))
            assert split == api.split_amount(Money(order.held, "CNY"), COMMISSION, None, 0)
            self.model.wallet[order.customer] -= order.held
            self.earn(provider, split.provider.amount)
            order.open = False
            # Capturing again is a replay; paying into a settled order's hold again is refused.
            assert run(self.wallet.capture(order_id, provider, commission_bps=COMMISSION)) == split

        @rule(pick=st.integers(0, 50), provider=st.sampled_from(PROVIDERS),
              fee_share=st.integers(0, 100), to_original=st.booleans())
        def cancel(self, pick: int, provider: int, fee_share: int, to_original: bool) -> None:
            found = self.open_order(pick)
            if found is None:
                return
            order_id, order = found
            kept = order.held * fee_share // 100
            refund = order.held - kept
            split = run(self.wallet.release(order_id, refund, provider_id=provider,
                                            refund_to="original" if to_original else "wallet"))
            self.model.wallet[order.customer] -= kept
            self.earn(provider, split.provider.amount)
            if to_original:
                remaining = refund
                for ref, _amount in reversed(order.holds):
                    if ref is None or remaining == 0:
                        continue
                    part = min(remaining, self.model.refundable[ref])
                    self.model.refundable[ref] -= part
                    self.model.wallet[order.customer] -= part
                    self.model.money_in -= part
                    remaining -= part
            order.open = False
            assert self.refused(self.wallet.capture(order_id, provider)) == "error.wallet.nothing_held"

        @rule(customer=st.sampled_from(CUSTOMERS), provider=st.sampled_from(PROVIDERS),
              amount=st.integers(1, 5_000))
        def tip(self, customer: int, provider: int, amount: int) -> None:
            key = self.refused(self.wallet.call(
                api.tip_order, order_id=self.next_order + 10_000, customer_id=customer,
                provider_id=provider, amount=Money(amount, "CNY"), method="wallet",
                payment_ref=self.ref()))
            if amount > self.model.wallet[customer] - self.model.held_by(customer):
                assert key == "error.wallet.insufficient_balance"
                return
            assert key is None
            self.model.wallet[customer] -= amount
            self.earn(provider, amount)

        # -- settling and paying out ---------------------------------------------------------

        @rule()
        def settle(self) -> None:
            self.clock.advance(timedelta(days=8))
            run(self.wallet.bus.handle(c.SettleMatured()))
            for provider, amount in self.model.unsettled:
                self.model.pending[provider] -= amount
                self.model.available[provider] += amount
            self.model.unsettled.clear()

        @rule(provider=st.sampled_from(PROVIDERS), amount=st.integers(1_000, 30_000))
        def withdraw(self, provider: int, amount: int) -> None:
            try:
                withdrawal = run(self.wallet.bus.handle(c.RequestWithdrawal(
                    provider_id=provider, amount=Money(amount, "CNY"), method="sandbox")))
            except DomainError as error:
                assert error.key == "error.wallet.insufficient_earnings"
                assert amount > self.model.available[provider] - self.model.withdrawing[provider]
                return
            self.model.withdrawing[provider] += amount
            self.model.withdrawals[withdrawal.id] = (provider, amount)

        @rule(pick=st.integers(0, 50), approve=st.booleans())
        def decide(self, pick: int, approve: bool) -> None:
            if not self.model.withdrawals:
                return
            withdrawal_id = sorted(self.model.withdrawals)[pick % len(self.model.withdrawals)]
            provider, amount = self.model.withdrawals.pop(withdrawal_id)
            if approve:
                run(self.wallet.bus.handle(c.ApproveWithdrawal(withdrawal_id=withdrawal_id)))
                self.model.available[provider] -= amount
                fee = Money(amount, "CNY").share_bps(FEE_BPS).amount
                self.model.money_out += amount - fee
            else:
                run(self.wallet.bus.handle(c.RejectWithdrawal(withdrawal_id=withdrawal_id,
                                                              reason="checked")))
            self.model.withdrawing[provider] -= amount
            # A withdrawal is decided once.
            again = self.refused(self.wallet.bus.handle(c.ApproveWithdrawal(withdrawal_id=withdrawal_id)))
            assert again == "error.wallet.withdrawal_already_decided"

        # -- invariants ------------------------------------------------------------------

        @invariant()
        def the_ledger_reconciles(self) -> None:
            report = run(self.wallet.bus.handle(c.VerifyLedger()))
            assert report.ok, report.discrepancies
            assert all(totals.balanced for totals in report.currencies)

        @invariant()
        def nobody_is_below_zero_and_money_is_conserved(self) -> None:
            async def accounts() -> list[Any]:
                async with self.wallet.runtime.uow_factory() as uow:
                    return await uow.ledger.list_accounts()

            inside = outside_in = outside_out = 0
            for account in run(accounts()):
                if account.ref.kind in GUARDED_KINDS:
                    assert account.available.amount >= 0, account
                balance = account.balance.amount
                if account.ref.kind is AccountKind.PAYOUTS_CLEARING:
                    outside_out += balance
                elif account.ref.kind in EXTERNAL_KINDS:
                    outside_in -= balance
                else:
                    inside += balance
            assert outside_in == self.model.money_in
            assert outside_out == self.model.money_out
            assert self.model.money_in == self.model.money_out + inside

        @invariant()
        def refunds_went_to_the_newest_payments_first(self) -> None:
            refunded: dict[str, int] = {}
            for request in self.wallet.sandbox.refunds:
                refunded[request.payment_ref] = refunded.get(request.payment_ref, 0) + request.amount.amount
            expected = {ref: paid - self.model.refundable[ref]
                        for ref, paid in self.model.paid.items() if paid != self.model.refundable[ref]}
            assert refunded == expected

        @invariant()
        def every_balance_is_what_the_model_says(self) -> None:
            for customer in CUSTOMERS:
                balance = run(self.wallet.balance(customer))
                assert balance.wallet.amount == self.model.wallet[customer]
                assert balance.wallet_held.amount == self.model.held_by(customer)
            for provider in PROVIDERS:
                balance = run(self.wallet.balance(provider))
                assert balance.earnings_pending.amount == self.model.pending[provider]
                assert balance.withdrawing.amount == self.model.withdrawing[provider]
                assert (balance.earnings_available.amount
                        == self.model.available[provider] - self.model.withdrawing[provider])

    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(max_examples=25, stateful_step_count=20, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow]),
        )
    finally:
        run(engine.dispose())
        loop.close()
