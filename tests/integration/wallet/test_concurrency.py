"""Races on PostgreSQL: concurrent withdrawals never overdraw, concurrent callbacks credit once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from core.shared.clock import FixedClock
from core.shared.errors import DomainError
from core.shared.money import Money
from core.wallet import commands as c
from core.wallet.accounts import AccountKind
from storage.db import create_engine
from tests.conftest import _truncate_all
from tests.integration.wallet.conftest import WalletDriver

pytestmark = pytest.mark.postgres

PROVIDER, CUSTOMER = 500, 100


@pytest.fixture
async def pg_runtime(postgres_url: str, clock: FixedClock) -> AsyncIterator[Runtime]:
    await _truncate_all(postgres_url)
    settings = Settings(_env_file=None, mode="demo", database_url=postgres_url)  # type: ignore[call-arg]
    engine = create_engine(postgres_url, pool_size=20, max_overflow=10)
    runtime = bootstrap(settings, clock=clock, engine=engine)
    yield runtime
    await runtime.close()


async def _outcome(call: asyncio.Future[object] | object) -> str:
    try:
        await call  # type: ignore[misc]
    except DomainError as error:
        return error.key
    return "ok"


async def test_a_hundred_concurrent_withdrawals_never_overdraw(pg_runtime: Runtime, clock: FixedClock) -> None:
    wallet = WalletDriver(pg_runtime)
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(1, CUSTOMER, 10_000)
    await wallet.capture(1, PROVIDER, commission_bps=0)
    clock.advance(timedelta(days=7))
    await wallet.bus.handle(c.SettleMatured())

    outcomes = await asyncio.gather(*(
        _outcome(wallet.bus.handle(c.RequestWithdrawal(
            provider_id=PROVIDER, amount=Money(1_000, "CNY"), method="sandbox")))
        for _ in range(100)
    ))
    counts = Counter(outcomes)
    assert counts == {"ok": 10, "error.wallet.insufficient_earnings": 90}, counts
    balance = await wallet.balance(PROVIDER)
    assert (balance.earnings_available, balance.withdrawing) == (Money(0, "CNY"), Money(10_000, "CNY"))
    async with pg_runtime.uow_factory() as uow:
        (available,) = await uow.ledger.accounts_of([AccountKind.PROVIDER_AVAILABLE], PROVIDER)
    assert (available.balance, available.available) == (Money(10_000, "CNY"), Money(0, "CNY"))
    await wallet.assert_balanced()


async def test_fifty_concurrent_deliveries_of_one_payment_credit_once(pg_runtime: Runtime) -> None:
    wallet = WalletDriver(pg_runtime)
    intent = await wallet.bus.handle(c.StartPayment(
        customer_id=CUSTOMER, gateway="sandbox", amount=Money(4_200, "CNY")))
    outcomes = await asyncio.gather(*(
        wallet.bus.handle(c.ConfirmPayment(gateway="sandbox", payment_ref=intent.payment_ref,
                                           amount=4_200, currency="CNY"))
        for _ in range(50)
    ))
    assert Counter(o.status for o in outcomes) == {"credited": 1, "duplicate": 49}
    assert (await wallet.balance(CUSTOMER)).wallet == Money(4_200, "CNY")
    assert (await wallet.outbox_names()).count("PaymentReceived") == 1
    await wallet.assert_balanced()


async def test_concurrent_capture_and_cancellation_of_one_order_resolve_its_hold_once(
    pg_runtime: Runtime,
) -> None:
    wallet = WalletDriver(pg_runtime)
    await wallet.top_up(CUSTOMER, 10_000)
    await wallet.pay(9, CUSTOMER, 10_000)
    outcomes = await asyncio.gather(
        *(_outcome(wallet.capture(9, PROVIDER)) for _ in range(5)),
        *(_outcome(wallet.release(9, refund=10_000)) for _ in range(5)),
    )
    assert set(outcomes) <= {"ok", "error.wallet.nothing_held"}
    assert await wallet.held(9) is None
    balance = await wallet.balance(CUSTOMER)
    assert balance.wallet in (Money(0, "CNY"), Money(10_000, "CNY"))
    await wallet.assert_balanced()
