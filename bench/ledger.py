"""Ledger benchmark: escrow lifecycles per second, and how long reconciliation takes.

One lifecycle is what every paid order goes through: a gateway payment lands in the
customer's wallet and is held in the order's escrow (one transaction), then the order
completes and the hold is posted and split between the provider, the platform and, for
every fifth order, a billiard hall (a second transaction). Both go through
`core.wallet.api` exactly as the booking area calls it.

It runs on SQLite (a fresh file) and on PostgreSQL (`YUEBAN_BENCH_DATABASE_URL`, else
`YUEBAN_TEST_DATABASE_URL`; its public schema is DROPPED and recreated, so never point it
at a database you care about), with 1 worker, 8 concurrent workers in one process (asyncio
tasks sharing a connection pool) and 8 worker processes (each with its own connections, as
webhook workers are deployed), then times `VerifyLedger` over everything written and checks
it found no discrepancy.

    python bench/ledger.py [--quick] [--lifecycles N]

The last line is JSON: {"bench": "ledger", ...}. Target: at least 1,000 lifecycles/s on
PostgreSQL with 8 workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from app.bootstrap import bootstrap
from app.settings import Settings
from core.shared.clock import SystemClock
from core.shared.money import Money
from core.wallet import api
from core.wallet.commands import VerifyLedger
from storage import migrate
from storage.db import create_engine

TARGET_PG_8 = 1_000
WORKERS = (1, 8)


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(sa.text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def _lifecycle(runtime: Any, order_id: int) -> None:
    now = runtime.clock.now()
    customer, provider = 10_000 + order_id % 500, 20_000 + order_id % 50
    amount = Money(5_000 + (order_id % 7) * 100, "CNY")
    async with runtime.uow_factory() as uow:
        await api.pay_order(uow, order_id=order_id, customer_id=customer, amount=amount,
                            method="sandbox", payment_ref=f"bench-{order_id}", at=now)
        await uow.commit()
    venue = 1 + order_id % 3 if order_id % 5 == 0 else None
    async with runtime.uow_factory() as uow:
        await api.capture_order(uow, order_id=order_id, provider_id=provider, commission_bps=2_000,
                                venue_id=venue, venue_share_bps=3_000, at=now)
        await uow.commit()


async def _run(runtime: Any, first_order: int, lifecycles: int, workers: int) -> float:
    queue = iter(range(first_order, first_order + lifecycles))

    async def worker() -> None:
        for order_id in queue:
            await _lifecycle(runtime, order_id)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return lifecycles / (time.perf_counter() - started)


def _process_worker(url: str, first_order: int, count: int, ready: Any, start: Any, done: Any) -> None:
    """One worker process: its own engine and bus, like one webhook worker in production."""

    async def work() -> None:
        settings = Settings(_env_file=None, mode="demo", database_url=url)  # type: ignore[call-arg]
        runtime = bootstrap(settings, clock=SystemClock(), engine=create_engine(url, pool_size=2))
        try:
            await _run(runtime, first_order + 10_000_000, 3, 1)  # warm up outside the clock
            ready.put(True)
            start.wait()
            await _run(runtime, first_order, count, 1)
        finally:
            await runtime.close()

    asyncio.run(work())
    done.put(count)


def run_processes(url: str, first_order: int, lifecycles: int, workers: int) -> float:
    context = multiprocessing.get_context("spawn")
    ready, start, done = context.Queue(), context.Event(), context.Queue()
    share = lifecycles // workers
    processes = [
        context.Process(target=_process_worker,
                        args=(url, first_order + i * share, share, ready, start, done))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:  # every worker has imported, connected and warmed up
        ready.get(timeout=600)
    started = time.perf_counter()
    start.set()
    finished = sum(done.get(timeout=600) for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return finished / elapsed


async def bench_database(label: str, url: str, lifecycles: int) -> dict[str, Any]:
    settings = Settings(_env_file=None, mode="demo", database_url=url)  # type: ignore[call-arg]
    engine = create_engine(url, **({} if label == "sqlite" else {"pool_size": 16}))
    runtime = bootstrap(settings, clock=SystemClock(), engine=engine)
    result: dict[str, Any] = {}
    try:
        # Warm up: connections, statement caches, the platform accounts.
        await _run(runtime, 1, 20, 4)
        next_order = 1_000
        for workers in WORKERS:
            rate = await _run(runtime, next_order, lifecycles, workers)
            next_order += lifecycles
            result[f"lifecycles_per_s_{workers}"] = round(rate, 1)
            print(f"{label:>10}  {workers} worker(s): {rate:8.1f} lifecycles/s", flush=True)
        rate = await asyncio.to_thread(run_processes, url, next_order, lifecycles, 8)
        next_order += lifecycles
        result["lifecycles_per_s_8_processes"] = round(rate, 1)
        print(f"{label:>10}  8 processes: {rate:8.1f} lifecycles/s", flush=True)
        started = time.perf_counter()
        report = await runtime.bus.handle(VerifyLedger())
        result["verify_s"] = round(time.perf_counter() - started, 3)
        result["verify_transfers"] = report.transfers_checked
        result["verify_accounts"] = report.accounts_checked
        result["verify_ok"] = report.ok
        print(f"{label:>10}  verify: {result['verify_s']:.3f} s over {report.transfers_checked} "
              f"transfers, {report.accounts_checked} accounts, "
              f"{'no discrepancy' if report.ok else report.discrepancies[:3]}", flush=True)
    finally:
        await runtime.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer lifecycles (CI)")
    parser.add_argument("--lifecycles", type=int, default=None, help="lifecycles per run")
    args = parser.parse_args()
    lifecycles = args.lifecycles or (300 if args.quick else 3_000)
    out: dict[str, Any] = {"bench": "ledger", "quick": args.quick, "lifecycles": lifecycles}

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        out["sqlite"] = asyncio.run(bench_database("sqlite", url, lifecycles))

    pg_url = os.environ.get("YUEBAN_BENCH_DATABASE_URL") or os.environ.get("YUEBAN_TEST_DATABASE_URL")
    if pg_url:
        asyncio.run(_reset_postgres(pg_url))
        migrate.upgrade(pg_url)
        out["postgresql"] = asyncio.run(bench_database("postgresql", pg_url, lifecycles))
        pg = out["postgresql"]
        rate = max(pg["lifecycles_per_s_8"], pg["lifecycles_per_s_8_processes"])
        out["target_pg_8"] = TARGET_PG_8
        out["target_met"] = rate >= TARGET_PG_8
    else:
        print("postgresql: skipped (set YUEBAN_BENCH_DATABASE_URL)", flush=True)
        out["postgresql"] = None
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
