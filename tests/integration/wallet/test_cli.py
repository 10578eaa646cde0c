"""`yueban admin ledger|withdrawals …` through the real CLI on a migrated database."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from app.bootstrap import bootstrap
from app.cli import app
from app.settings import Settings
from core.shared.clock import FixedClock, SystemClock
from core.shared.money import Money
from core.wallet import commands as c
from storage import migrate
from storage.db import create_engine
from tests.integration.wallet.conftest import WalletDriver

runner = CliRunner()
CUSTOMER, PROVIDER = 100, 500


def yueban(database: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={
        "YUEBAN_DATABASE_URL": database, "YUEBAN_MODE": "demo", "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


async def _world(database: str) -> int:
    """A paid and completed order whose earnings settled, and a waiting withdrawal."""
    clock = FixedClock(SystemClock().now() - timedelta(days=10))
    runtime = bootstrap(Settings(_env_file=None, mode="demo", database_url=database),  # type: ignore[call-arg]
                        clock=clock)
    try:
        wallet = WalletDriver(runtime)
        await wallet.top_up(CUSTOMER, 10_000)
        await wallet.pay(42, CUSTOMER, 6_000)
        await wallet.capture(42, PROVIDER, commission_bps=2_000)
        clock.advance(timedelta(days=8))
        await wallet.bus.handle(c.SettleMatured())
        withdrawal = await wallet.bus.handle(c.RequestWithdrawal(
            provider_id=PROVIDER, amount=Money(2_000, "CNY"), method="manual"))
        return int(withdrawal.id)
    finally:
        await runtime.close()


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrate.upgrade(url)
    return url


def test_verify_prints_what_it_checked_and_passes(database: str) -> None:
    asyncio.run(_world(database))
    code, out, _ = yueban(database, "admin", "ledger", "verify")
    assert code == 0, out
    assert "transfers" in out and "CNY" in out and "sums to zero" in out.lower()
    code, out, _ = yueban(database, "admin", "ledger", "verify", "--json")
    report = json.loads(out)
    assert report["ok"] and report["discrepancies"] == []
    assert report["currencies"][0]["debits_posted"] == report["currencies"][0]["credits_posted"]


def test_verify_exits_non_zero_on_a_tampered_total(database: str) -> None:
    asyncio.run(_world(database))

    async def tamper() -> None:
        engine = create_engine(database)
        async with engine.begin() as connection:
            await connection.execute(sa.text(
                "UPDATE wallet_accounts SET credits_posted = credits_posted + 1 "
                "WHERE kind = 'customer_wallet'"))
        await engine.dispose()

    asyncio.run(tamper())
    code, out, err = yueban(database, "admin", "ledger", "verify")
    assert code == 1
    assert "total_mismatch" in err and "currency_unbalanced" in err
    code, out, _ = yueban(database, "admin", "ledger", "verify", "--json")
    assert code == 1 and not json.loads(out)["ok"]


def test_balances_and_statement(database: str) -> None:
    asyncio.run(_world(database))
    code, out, _ = yueban(database, "admin", "ledger", "balances", "--kind", "platform_fees")
    assert code == 0 and "12.00 CNY" in out
    code, out, _ = yueban(database, "admin", "ledger", "balances", "--json")
    kinds = {row["kind"] for row in json.loads(out)}
    assert {"customer_wallet", "provider_available", "platform_fees", "gateway_clearing"} <= kinds
    code, out, _ = yueban(database, "admin", "ledger", "statement", str(CUSTOMER))
    assert code == 0 and "40.00 CNY" in out and "42" in out
    code, out, _ = yueban(database, "admin", "ledger", "statement", str(PROVIDER), "--json")
    (balance,) = json.loads(out)["balances"]
    assert balance["earnings_available"]["amount"] == 4_800 - 2_000
    assert balance["withdrawing"]["amount"] == 2_000
    code, _, err = yueban(database, "admin", "ledger", "balances", "--kind", "piggy")
    assert code == 1 and "piggy" in err


def test_withdrawals_list_approve_reject(database: str) -> None:
    withdrawal_id = asyncio.run(_world(database))
    code, out, _ = yueban(database, "admin", "withdrawals", "list", "--json")
    (listed,) = json.loads(out)
    assert (listed["id"], listed["status"], listed["payout"]) == (withdrawal_id, "requested", 1_980)
    code, out, _ = yueban(database, "admin", "withdrawals", "list")
    assert code == 0 and "19.80 CNY" in out
    code, _, err = yueban(database, "admin", "withdrawals", "approve", str(withdrawal_id))
    assert code == 1 and "--reference" in err
    code, out, _ = yueban(database, "admin", "withdrawals", "approve", str(withdrawal_id),
                          "--reference", "BANK-1", "--json")
    assert code == 0 and json.loads(out)["payout_ref"] == "BANK-1"
    code, _, err = yueban(database, "admin", "withdrawals", "reject", str(withdrawal_id),
                          "--reason", "late")
    assert code == 1 and "already" in err
    code, out, _ = yueban(database, "admin", "withdrawals", "list", "--status", "paid")
    assert "BANK-1" in out
    code, _, err = yueban(database, "admin", "withdrawals", "approve", "999")
    assert code == 1 and "999" in err
    code, out, _ = yueban(database, "admin", "ledger", "verify")
    assert code == 0


def test_settle_and_retry_refunds_report_what_they_did(database: str) -> None:
    asyncio.run(_world(database))
    code, out, _ = yueban(database, "admin", "ledger", "settle", "--json")
    assert code == 0 and json.loads(out)["earnings_settled"] == 0
    code, out, _ = yueban(database, "admin", "ledger", "retry-refunds")
    assert code == 0 and "0" in out
