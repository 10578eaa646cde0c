"""What an escrow lifecycle costs the database, and the shortcuts that keep it cheap staying right.

The hot flows open a journal with one statement (locks, replay check, open holds) and write
it with one; on PostgreSQL the reads of that statement come from its snapshot, taken before
any lock wait, so they are read again when a writer committed in between. Unlocked accounts
are looked up by id from memory, and a remembered id is matched again by natural key when
written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from core.shared.clock import FixedClock
from core.shared.errors import ConcurrencyConflict
from core.shared.money import Money
from core.wallet import api
from storage.db import create_engine
from storage.tables.base import metadata
from tests.conftest import _truncate_all
from tests.integration.wallet.conftest import WalletDriver

CUSTOMER, PROVIDER = 100, 500

# Steady state, once the customer's, provider's and platform's accounts exist. PostgreSQL:
# claim the payment, open, write; open, write. SQLite adds BEGIN IMMEDIATE per transaction,
# creates the order's escrow apart, and writes a journal in three or four statements.
STATEMENTS = {"postgresql": 5, "sqlite": 13}


async def _lifecycle(wallet: WalletDriver, order_id: int, venue_id: int | None = None) -> None:
    await wallet.call(api.pay_order, order_id=order_id, customer_id=CUSTOMER,
                      amount=Money(5_000, "CNY"), method="sandbox", payment_ref=f"p{order_id}")
    await wallet.call(api.capture_order, order_id=order_id, provider_id=PROVIDER,
                      commission_bps=2_000, venue_id=venue_id, venue_share_bps=3_000)


async def test_an_escrow_lifecycle_takes_a_handful_of_statements(
    runtime: Runtime, engine: Any
) -> None:
    wallet = WalletDriver(runtime)
    for order_id in (1, 2):  # creates the accounts, then sees them committed
        await _lifecycle(wallet, order_id, venue_id=9)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await _lifecycle(wallet, 3, venue_id=9)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == STATEMENTS[engine.dialect.name], statements
    assert await wallet.held(3) is None
    await wallet.assert_balanced()


async def test_remembered_account_ids_never_move_money_to_another_account(
    runtime: Runtime, engine: Any
) -> None:
    """Rows deleted under a running engine (which only tests do) make remembered ids wrong:
    the write refuses rather than touch whatever now has that id, and a retry looks again."""
    wallet = WalletDriver(runtime)
    for order_id in (1, 2):
        await _lifecycle(wallet, order_id, venue_id=9)
    async with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if table.name.startswith("wallet_"):
                await connection.execute(sa.delete(table))
    # New accounts take the freed ids (SQLite reuses them), in a different order than before.
    await _retried(lambda: wallet.call(
        api.pay_order, order_id=50, customer_id=CUSTOMER + 1, amount=Money(700, "CNY"),
        method="sandbox", payment_ref="other"))
    await _retried(lambda: _lifecycle(wallet, 3, venue_id=9))
    balance = await wallet.balance(CUSTOMER)
    assert (balance.wallet, balance.wallet_held) == (Money(0, "CNY"), Money(0, "CNY"))
    provider = await wallet.balance(PROVIDER)
    assert provider.earnings_pending == Money(2_800, "CNY")
    assert await wallet.held(50) == Money(700, "CNY")
    await wallet.assert_balanced()


async def _retried(call: Callable[[], Awaitable[Any]]) -> None:
    """Once more after a refusal, as the message bus retries a command."""
    try:
        await call()
    except (ConcurrencyConflict, IntegrityError):
        await call()


# -- PostgreSQL: a flow that waited for a lock reads what the lock holder committed ----------


@pytest.fixture
async def pg_runtime(postgres_url: str, clock: FixedClock) -> AsyncIterator[Runtime]:
    await _truncate_all(postgres_url)
    settings = Settings(_env_file=None, mode="demo", database_url=postgres_url)  # type: ignore[call-arg]
    runtime = bootstrap(settings, clock=clock, engine=create_engine(postgres_url))
    yield runtime
    await runtime.close()


async def _waits(task: asyncio.Task[Any]) -> None:
    await asyncio.sleep(0.3)
    assert not task.done(), "the second transaction should be waiting for the lock"


@pytest.mark.postgres
async def test_a_repeated_payment_waiting_for_the_lock_replays_the_one_committed_meanwhile(
    pg_runtime: Runtime,
) -> None:
    wallet = WalletDriver(pg_runtime)
    await wallet.top_up(CUSTOMER, 10_000)
    pay = {"order_id": 7, "customer_id": CUSTOMER, "amount": Money(3_000, "CNY"),
           "method": "wallet", "payment_ref": None}
    async with pg_runtime.uow_factory() as first:
        await api.pay_order(first, at=pg_runtime.clock.now(), **pay)
        second = asyncio.create_task(wallet.call(api.pay_order, **pay))
        await _waits(second)
        await first.commit()
    await second  # a replay, not a conflict on the journal's key
    assert await wallet.held(7) == Money(3_000, "CNY")
    balance = await wallet.balance(CUSTOMER)
    assert (balance.wallet, balance.wallet_held) == (Money(10_000, "CNY"), Money(3_000, "CNY"))
    await wallet.assert_balanced()


@pytest.mark.postgres
async def test_a_capture_waiting_for_the_escrow_posts_the_hold_committed_meanwhile(
    pg_runtime: Runtime,
) -> None:
    wallet = WalletDriver(pg_runtime)
    await wallet.pay(8, CUSTOMER, 2_000, method="sandbox", payment_ref="deposit")
    async with pg_runtime.uow_factory() as rest:
        await api.pay_order(rest, order_id=8, customer_id=CUSTOMER, amount=Money(3_000, "CNY"),
                            method="sandbox", payment_ref="rest", at=pg_runtime.clock.now())
        capture = asyncio.create_task(wallet.capture(8, PROVIDER, commission_bps=2_000))
        await _waits(capture)
        await rest.commit()
    split = await capture
    assert split.total == Money(5_000, "CNY")
    assert await wallet.held(8) is None
    await wallet.assert_balanced()
