"""Dispatch benchmark: many providers race for open orders; first accept must win, once.

Setup: a category whose open orders are offered to every qualified provider at once, N
providers (identity and catalog answered by an in-memory directory, so only booking is
measured), and M open orders published and paid through the real wallet. The race: every
provider task taps random cards it still believes open until it wins one order or sees
every card "taken" (a refusal tells it which card changed). Each tap is an `AcceptOrder`
through the bus, exactly as a chat button sends it.

Checks: every order has exactly one provider (`assignments` == M), no order was won twice
and no provider won two (`duplicates` == 0, from the callers' results and from the outbox).

It runs on SQLite (a fresh file) and on PostgreSQL (`YUEBAN_BENCH_DATABASE_URL`, default
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`): a throw-away database is created on
that server for the run and dropped afterwards, so nothing else there is touched.

    python bench/dispatch.py [--quick] [--providers N] [--orders M] [--sqlite-only]

`--quick`: 1,000 providers, 100 orders. The last line is JSON:
{"bench": "dispatch", "assignments": .., "duplicates": .., "orders_per_s": {db: ..}, ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from bench.common import emit, say, summary, timed
from core.booking import commands as c
from core.booking.states import OrderState
from core.shared.clock import SystemClock
from core.shared.errors import DomainError
from core.shared.money import Money
from storage import migrate
from storage.db import create_engine
from tests.unit.booking.fakes import FakeDirectory

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CATEGORY = 1
FIRST_PROVIDER = 100_000
FIRST_CUSTOMER = 500_000


def directory_for(providers: int, orders: int) -> FakeDirectory:
    directory = FakeDirectory()
    directory.add_category(CATEGORY, "online_session")
    for n in range(providers):
        pid = FIRST_PROVIDER + n
        directory.add_provider(pid, offer_id=pid, category_id=CATEGORY)
    for n in range(orders):
        directory.add_person(FIRST_CUSTOMER + n)
    return directory


async def setup(runtime: Runtime, orders: int) -> list[int]:
    # Offer every open order to all qualified providers in one wave (no "top 20" wave).
    await runtime.bus.handle(c.SetCategoryPolicy(category_id=CATEGORY,
                                                 overrides={"top_wave_size": 0}))
    ids = []
    for n in range(orders):
        customer = FIRST_CUSTOMER + n
        order = await runtime.bus.handle(c.PublishOpenOrder(
            actor_id=customer, category_id=CATEGORY, units=1, unit_price=Money(5000, "CNY")))
        await runtime.bus.handle(c.PayOrder(actor_id=customer, order_id=order.id,
                                            method="sandbox", payment_ref=f"bench-{order.id}"))
        ids.append(order.id)
    return ids


async def race(runtime: Runtime, order_ids: list[int], providers: int,
               seed: int) -> dict[str, Any]:
    taken: set[int] = set()  # the cards every provider sees as "taken"
    won: dict[int, list[int]] = {}  # order -> providers told they won it
    latencies: list[float] = []
    refusals: Counter[str] = Counter()
    attempts = 0

    async def provider(pid: int) -> None:
        nonlocal attempts
        rng = random.Random(seed * 1_000_003 + pid)
        while True:
            open_cards = [o for o in order_ids if o not in taken]
            if not open_cards:
                return
            order_id = rng.choice(open_cards)
            attempts += 1
            with timed() as watch:
                try:
                    await runtime.bus.handle(c.AcceptOrder(
                        actor_id=pid, order_id=order_id, idempotency_key=f"bench:{pid}:{order_id}"))
                    outcome = None
                except DomainError as error:
                    outcome = error.key
            latencies.append(watch.ms)
            if outcome is None or outcome == "error.order.taken":
                taken.add(order_id)  # the card now reads "taken"
            if outcome is None:
                won.setdefault(order_id, []).append(pid)
                return  # one order per provider: they are busy now
            refusals[outcome] += 1

    with timed() as watch:
        await asyncio.gather(*(provider(FIRST_PROVIDER + n) for n in range(providers)))
    winners = Counter(p for ps in won.values() for p in ps)
    async with runtime.uow_factory() as uow:
        stored = [await uow.orders.get(o) for o in order_ids]
        accepted = Counter(r.event.order_id for r in await uow.outbox.claim_batch(10**7)  # type: ignore[attr-defined]
                           if r.event.type_name() == "OrderAccepted")
    assignments = sum(1 for o in stored
                      if o.provider_id is not None and o.state is OrderState.IN_SERVICE
                      and won.get(o.id) == [o.provider_id])
    duplicates = (sum(len(ps) - 1 for ps in won.values() if len(ps) > 1)
                  + sum(n - 1 for n in winners.values() if n > 1)
                  + sum(n - 1 for n in accepted.values() if n > 1))
    seconds = watch.ms / 1000
    return {
        "assignments": assignments,
        "duplicates": duplicates,
        "orders_per_s": round(len(order_ids) / seconds, 1),
        "race_s": round(seconds, 3),
        "attempts": attempts,
        "refusals": dict(refusals),
        "accept_latency": summary(latencies),
    }


async def run_on(url: str, providers: int, orders: int, seed: int) -> dict[str, Any]:
    await asyncio.to_thread(migrate.upgrade, url, "head")
    directory = directory_for(providers, orders)
    settings = Settings(_env_file=None, mode="demo", database_url=url)  # type: ignore[call-arg]
    engine = create_engine(url, **({"pool_size": 20, "max_overflow": 20}
                                   if url.startswith("postgresql") else {}))
    runtime = bootstrap(settings, clock=SystemClock(), engine=engine,
                        overrides={"directory": directory})
    try:
        with timed() as watch:
            order_ids = await setup(runtime, orders)
        say(f"  {orders} open orders published and paid, each offered to {providers} providers"
            f" in {watch.ms / 1000:.1f} s")
        result = await race(runtime, order_ids, providers, seed)
        say(f"  race: {result['assignments']} assigned, {result['duplicates']} duplicates, "
            f"{result['orders_per_s']} orders/s, {result['attempts']} taps")
        return result
    finally:
        await runtime.close()


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def on_postgres(server_url: str, providers: int, orders: int, seed: int) -> dict[str, Any]:
    name = f"yueban_bench_dispatch_{uuid.uuid4().hex[:10]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        return await run_on(url, providers, orders, seed)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 providers, 100 orders.")
    parser.add_argument("--providers", type=int, default=None)
    parser.add_argument("--orders", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    providers = args.providers or (1_000 if args.quick else 2_000)
    orders = args.orders or (100 if args.quick else 300)
    results: dict[str, dict[str, Any]] = {}
    say(f"dispatch: {providers} providers race for {orders} open orders")
    with tempfile.TemporaryDirectory() as folder:
        say("sqlite:")
        results["sqlite"] = await run_on(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
                                         providers, orders, args.seed)
    if not args.sqlite_only:
        server = os.environ.get("YUEBAN_BENCH_DATABASE_URL", DEFAULT_PG)
        say("postgresql:")
        try:
            results["postgresql"] = await on_postgres(server, providers, orders, args.seed)
        except OSError as error:
            say(f"  PostgreSQL unreachable at {make_url(server).render_as_string()}: {error}")
            results["postgresql"] = {"error": str(error), "assignments": 0, "duplicates": 0,
                                     "orders_per_s": 0.0}
    ok = all(r["assignments"] == orders and r["duplicates"] == 0 for r in results.values())
    emit({
        "bench": "dispatch",
        "providers": providers,
        "orders": orders,
        "assignments": min(r["assignments"] for r in results.values()),
        "duplicates": sum(r["duplicates"] for r in results.values()),
        "orders_per_s": {db: r["orders_per_s"] for db, r in results.items()},
        "ok": ok,
        "databases": results,
    })
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
