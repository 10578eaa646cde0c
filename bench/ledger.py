"""Ledger benchmark: escrow lifecycles per second, against a raw-driver floor, and how long
reconciliation takes.

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

Figures on a shared machine move with its load, so each run also measures, with the same
concurrency and in the same run, a floor: the same two transactions' ledger rows (journal,
transfers, balance updates) written with the raw driver (asyncpg / aiosqlite), prepared,
with no reads, locks or checks. `ratio` is Yueban's rate over the floor's. Two figures do
not depend on load at all: SQL statements per lifecycle (counted with a
`before_cursor_execute` listener; on SQLite that includes `BEGIN IMMEDIATE`, on PostgreSQL
the driver begins without a statement) and CPU milliseconds per lifecycle in this process.

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
import queue
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

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
PROCESSES = 8


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


async def _run(lifecycle: Callable[[int], Awaitable[None]], first_order: int, lifecycles: int,
               workers: int) -> float:
    queue = iter(range(first_order, first_order + lifecycles))

    async def worker() -> None:
        for order_id in queue:
            await lifecycle(order_id)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return lifecycles / (time.perf_counter() - started)


# -- the floor: the same ledger rows with the raw driver ------------------------------------
#
# Per lifecycle, as Yueban writes them: (1) a journal, two transfers (the top-up and the
# hold) and three balance updates (gateway, customer, escrow); (2) a journal, the post of
# the hold and the split's transfers (fee, earning, and a venue share every fifth order) and
# the balance updates of escrow, customer, fees, provider (and venue). Account rows are
# made beforehand; the floor reads nothing, locks nothing explicitly and checks nothing.

_FLOOR_OWNER = 900_000_000  # account owners far from anything the Yueban runs use


def _floor_sql(dialect: str) -> dict[str, str]:
    p = (lambda n: f"${n}") if dialect == "postgresql" else (lambda n: "?")
    return {
        "journal": "INSERT INTO wallet_journals (id, operation, fingerprint, order_id, result, "
                   f"created_at) VALUES ({', '.join(p(i) for i in range(1, 7))})",
        "transfer": "INSERT INTO wallet_transfers (id, journal_id, debit_account_id, "
                    "credit_account_id, amount, currency, kind, reason, pending_id, order_id, "
                    f"data, created_at) VALUES ({', '.join(p(i) for i in range(1, 13))})",
        "account": f"UPDATE wallet_accounts SET debits_pending = debits_pending + {p(1)}, "
                   f"debits_posted = debits_posted + {p(2)}, "
                   f"credits_pending = credits_pending + {p(3)}, "
                   f"credits_posted = credits_posted + {p(4)}, version = version + 1 "
                   f"WHERE id = {p(5)}",
        "escrow": "INSERT INTO wallet_accounts (kind, owner_id, qualifier, currency, "
                  "debits_pending, debits_posted, credits_pending, credits_posted, "
                  "debits_must_not_exceed_credits, credits_must_not_exceed_debits, version, "
                  "created_at) VALUES ('order_escrow', {}, '', 'CNY', 0, 0, 0, 0, true, false, "
                  "0, {}) RETURNING id",
    }


class Floor:
    """Writes the lifecycle's ledger rows through asyncpg or aiosqlite directly."""

    def __init__(self, url: str, pool_size: int) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        self.sql = _floor_sql(self.dialect)
        self.pool_size = pool_size
        self.ids: dict[str, int] = {}
        self.pool: Any = None

    async def start(self) -> None:
        if self.dialect == "postgresql":
            import asyncpg

            dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.pool = await asyncpg.create_pool(dsn, min_size=self.pool_size,
                                                  max_size=self.pool_size)
        else:
            import aiosqlite

            self.pool = asyncio.Queue()
            for _ in range(self.pool_size):
                db = await aiosqlite.connect(self.url.database, isolation_level=None,
                                             timeout=30)
                await db.execute("PRAGMA journal_mode=WAL")
                await db.execute("PRAGMA foreign_keys=ON")
                await db.execute("PRAGMA synchronous=NORMAL")
                self.pool.put_nowait(db)
        await self._make_accounts()

    async def close(self) -> None:
        if self.dialect == "postgresql":
            await self.pool.close()
        else:
            while not self.pool.empty():
                await self.pool.get_nowait().close()

    async def _make_accounts(self) -> None:
        kinds = {"gateway": ("gateway_clearing", "sandbox", False),
                 "fees": ("platform_fees", "", False), "venue": ("venue_share", "", False),
                 "customer": ("customer_wallet", "", True),
                 "provider": ("provider_pending", "", True)}
        now = datetime.now(UTC)
        for name, (kind, qualifier, guarded) in kinds.items():
            row = (kind, _FLOOR_OWNER, qualifier, "CNY", guarded, now)
            sql = ("INSERT INTO wallet_accounts (kind, owner_id, qualifier, currency, "
                   "debits_pending, debits_posted, credits_pending, credits_posted, "
                   "debits_must_not_exceed_credits, credits_must_not_exceed_debits, version, "
                   "created_at) VALUES ({}, {}, {}, {}, 0, 0, 0, 0, {}, false, 0, {}) "
                   "ON CONFLICT (kind, owner_id, qualifier, currency) "
                   "DO UPDATE SET version = wallet_accounts.version RETURNING id")
            if self.dialect == "postgresql":
                self.ids[name] = await self.pool.fetchval(sql.format(*_dollars(6)), *row)
            else:
                db = await self.pool.get()
                try:
                    cursor = await db.execute(sql.format(*["?"] * 6),
                                              (*row[:5], row[5].replace(tzinfo=None)))
                    self.ids[name] = (await cursor.fetchone())[0]
                    await db.commit()
                finally:
                    self.pool.put_nowait(db)

    async def lifecycle(self, order_id: int) -> None:
        # One connection per lifecycle, as one unit of work per transaction would get it.
        if self.dialect == "postgresql":
            async with self.pool.acquire() as connection:
                await self._lifecycle(connection, order_id)
        else:
            db = await self.pool.get()
            try:
                await self._lifecycle(db, order_id)
            finally:
                self.pool.put_nowait(db)

    async def _lifecycle(self, connection: Any, order_id: int) -> None:
        now = datetime.now(UTC)
        ids, amount = self.ids, 5_000 + (order_id % 7) * 100
        hold_journal = f"floor:{order_id}:hold"
        top_up, hold = f"floor{order_id}t", f"floor{order_id}h"
        data = json.dumps({"order": order_id})
        escrow = await self._transaction(
            connection, order_id, (hold_journal, "pay_order", "f" * 64, order_id, "{}", now),
            lambda escrow: (
                [(top_up, hold_journal, ids["gateway"], ids["customer"], amount, "CNY",
                  "posted", "top_up", None, order_id, data, now),
                 (hold, hold_journal, ids["customer"], escrow, amount, "CNY", "pending", "hold",
                  None, order_id, data, now)],
                [(0, amount, 0, 0, ids["gateway"]), (amount, 0, 0, amount, ids["customer"]),
                 (0, 0, amount, 0, escrow)],
            ),
        )
        fee = amount // 5
        venue = (amount - fee) * 3 // 10 if order_id % 5 == 0 else 0
        capture = f"floor:{order_id}:capture"
        legs = [(f"floor{order_id}p", capture, ids["customer"], escrow, amount, "CNY",
                 "post_pending", "capture", hold, order_id, data, now),
                (f"floor{order_id}f", capture, escrow, ids["fees"], fee, "CNY", "posted", "fee",
                 None, order_id, data, now),
                (f"floor{order_id}e", capture, escrow, ids["provider"], amount - fee - venue,
                 "CNY", "posted", "earning", None, order_id, data, now)]
        deltas = [(-amount, amount, 0, 0, ids["customer"]),
                  (0, amount, -amount, amount, escrow),
                  (0, 0, 0, fee, ids["fees"]), (0, 0, 0, amount - fee - venue, ids["provider"])]
        if venue:
            legs.append((f"floor{order_id}v", capture, escrow, ids["venue"], venue, "CNY",
                         "posted", "venue_share", None, order_id, data, now))
            deltas.append((0, 0, 0, venue, ids["venue"]))
        await self._transaction(connection, None, (capture, "capture", "f" * 64, order_id, "{}",
                                                   now), lambda _: (legs, deltas))

    async def _transaction(
        self, connection: Any, new_escrow_for: int | None, journal: tuple[Any, ...],
        rows: Callable[[int], tuple[list[tuple[Any, ...]], list[tuple[int, ...]]]],
    ) -> int:
        """One transaction: the order's escrow account if asked (Yueban makes one per order),
        the journal, its transfers, the balance updates in account id order."""
        sql, escrow = self.sql, 0
        if self.dialect == "postgresql":
            async with connection.transaction():
                if new_escrow_for is not None:
                    escrow = await connection.fetchval(sql["escrow"].format(*_dollars(2)),
                                                       _FLOOR_OWNER + new_escrow_for, journal[5])
                legs, deltas = rows(escrow)
                await connection.execute(sql["journal"], *journal)
                await connection.executemany(sql["transfer"], legs)
                await connection.executemany(sql["account"], sorted(deltas, key=lambda d: d[4]))
            return escrow
        await connection.execute("BEGIN IMMEDIATE")
        if new_escrow_for is not None:
            cursor = await connection.execute(sql["escrow"].format("?", "?"),
                                              _lite((_FLOOR_OWNER + new_escrow_for, journal[5])))
            escrow = (await cursor.fetchone())[0]
        legs, deltas = rows(escrow)
        await connection.execute(sql["journal"], _lite(journal))
        await connection.executemany(sql["transfer"], [_lite(leg) for leg in legs])
        await connection.executemany(sql["account"], sorted(deltas, key=lambda d: d[4]))
        await connection.commit()
        return escrow


def _dollars(n: int) -> list[str]:
    return [f"${i}" for i in range(1, n + 1)]


def _lite(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """SQLite stores naive UTC (storage/tables/base.py)."""
    return tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in values)


# -- runs ------------------------------------------------------------------------------------


def _process_worker(url: str, floor: bool, first_order: int, count: int, ready: Any, start: Any,
                    done: Any) -> None:
    """One worker process: its own engine and bus, like one webhook worker in production."""

    async def work() -> None:
        if floor:
            writer = Floor(url, 1)
            await writer.start()
            lifecycle, close = writer.lifecycle, writer.close
        else:
            settings = Settings(_env_file=None, mode="demo", database_url=url)  # type: ignore[call-arg]
            runtime = bootstrap(settings, clock=SystemClock(), engine=create_engine(url, pool_size=2))

            async def lifecycle(order_id: int) -> None:
                await _lifecycle(runtime, order_id)

            close = runtime.close
        try:
            await _run(lifecycle, first_order + 10_000_000, 3, 1)  # warm up outside the clock
            ready.put(True)
            start.wait()
            await _run(lifecycle, first_order, count, 1)
        finally:
            await close()

    asyncio.run(work())
    done.put(count)


def run_processes(url: str, floor: bool, first_order: int, lifecycles: int, workers: int) -> float:
    context = multiprocessing.get_context("spawn")
    ready, start, done = context.Queue(), context.Event(), context.Queue()
    share = lifecycles // workers
    processes = [
        context.Process(target=_process_worker,
                        args=(url, floor, first_order + i * share, share, ready, start, done))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:  # every worker has imported, connected and warmed up
        _wait_for(ready, processes)
    started = time.perf_counter()
    start.set()
    finished = sum(_wait_for(done, processes) for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return finished / elapsed


def _wait_for(answers: Any, processes: list[Any], timeout: float = 600) -> Any:
    """The next answer from a worker process; fail at once when one of them died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return answers.get(timeout=1)
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in processes):
                raise RuntimeError("a worker process failed (its traceback is above)") from None
            if time.monotonic() > deadline:
                raise


async def _statements_per_lifecycle(runtime: Any, engine: Any, order_id: int) -> int:
    """SQL statements one lifecycle sends (a deterministic figure, unlike rates)."""
    count = 0

    def counted(*_args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(engine.sync_engine, "before_cursor_execute", counted)
    try:
        await _lifecycle(runtime, order_id)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", counted)
    return count


async def _cpu_ms_per_lifecycle(lifecycle: Callable[[int], Awaitable[None]], first_order: int,
                                count: int) -> float:
    """CPU time this process spends per lifecycle, one at a time (load barely moves it)."""
    started = time.process_time()
    await _run(lifecycle, first_order, count, 1)
    return (time.process_time() - started) * 1000 / count


def _load() -> float:
    return round(os.getloadavg()[0], 2)


async def bench_database(label: str, url: str, lifecycles: int) -> dict[str, Any]:
    settings = Settings(_env_file=None, mode="demo", database_url=url)  # type: ignore[call-arg]
    engine = create_engine(url, **({} if label == "sqlite" else {"pool_size": 16}))
    runtime = bootstrap(settings, clock=SystemClock(), engine=engine)
    floor = Floor(url, 8 if label == "sqlite" else 16)
    result: dict[str, Any] = {"load_at_start": _load()}

    async def yueban(order_id: int) -> None:
        await _lifecycle(runtime, order_id)

    try:
        await floor.start()
        # Warm up: connections, statement caches, the platform accounts.
        await _run(yueban, 1, 20, 4)
        await _run(floor.lifecycle, 1, 20, 4)
        next_order = 1_000
        for workers in WORKERS:
            rate = await _run(yueban, next_order, lifecycles, workers)
            floor_rate = await _run(floor.lifecycle, next_order, lifecycles, workers)
            next_order += lifecycles
            _record(result, label, f"{workers}", f"{workers} worker(s)", rate, floor_rate)
        # Steady state: customers and providers repeat, so their accounts exist by now (a
        # customer's or provider's first lifecycle adds a statement that creates them).
        cpu_runs = 100
        result["cpu_ms_per_lifecycle"] = round(
            await _cpu_ms_per_lifecycle(yueban, next_order, cpu_runs), 2)
        result["floor_cpu_ms_per_lifecycle"] = round(
            await _cpu_ms_per_lifecycle(floor.lifecycle, next_order, cpu_runs), 2)
        next_order += cpu_runs
        result["statements_per_lifecycle"] = await _statements_per_lifecycle(
            runtime, engine, next_order)
        next_order += 1
        print(f"{label:>10}  {result['statements_per_lifecycle']} statements and "
              f"{result['cpu_ms_per_lifecycle']:.2f} ms CPU per lifecycle "
              f"(floor {result['floor_cpu_ms_per_lifecycle']:.2f} ms)", flush=True)
        rate = await asyncio.to_thread(run_processes, url, False, next_order, lifecycles,
                                       PROCESSES)
        floor_rate = await asyncio.to_thread(run_processes, url, True, next_order, lifecycles,
                                             PROCESSES)
        next_order += lifecycles
        _record(result, label, f"{PROCESSES}_processes", f"{PROCESSES} processes", rate,
                floor_rate)
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
        await floor.close()
        await runtime.close()
    result["load_at_end"] = _load()
    return result


def _record(result: dict[str, Any], label: str, key: str, title: str, rate: float,
            floor_rate: float) -> None:
    result[f"lifecycles_per_s_{key}"] = round(rate, 1)
    result[f"floor_lifecycles_per_s_{key}"] = round(floor_rate, 1)
    result[f"ratio_{key}"] = round(rate / floor_rate, 3)
    print(f"{label:>10}  {title + ':':<15}{rate:8.1f} lifecycles/s   floor {floor_rate:8.1f}/s   "
          f"ratio {rate / floor_rate:.2f}   (load {_load()})", flush=True)


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
