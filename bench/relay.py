"""Relay latency: order chats through Yueban's bot over the Telegram stand-in.

100 customer/provider pairs with an accepted order each talk at 200 messages/s in all
(each side of a pair in turn) through the stand-in's webhook delivery to Yueban's bot as
`yueban run` serves it (dedup, throttling, actor lookup, `RouteInbound` on the database,
`copyMessage`, then `RecordRelayed`). Measured per message: from the moment the update is
queued in the stand-in to the moment the stand-in receives the bot's `copyMessage` for it.
Telegram's per-chat pacing is taken off the bot's outbound limiter here (it is measured in
`bench/telegram_throughput.py`); the stand-in's flood limits are off.

    python bench/relay.py [--quick] [--pairs N] [--rate R] [--seconds S]
                          [--database-url URL] [--redis-url URL]

Defaults: PostgreSQL `YUEBAN_BENCH_DATABASE_URL` (else postgresql+asyncpg://postgres@
127.0.0.1:5432/test), on which a scratch database is created and dropped, and Redis
`YUEBAN_BENCH_REDIS_URL` (else redis://127.0.0.1:6379/0). `--database-url sqlite` runs on a
fresh SQLite file. `--quick`: 10 s. Targets: p50 < 10 ms, p99 < 50 ms. The last line is JSON;
besides latency it gives, per relayed message, the SQL statements and transactions the bot
issued (`sql_per_message`, deterministic) and the CPU time of this process
(`cpu_ms_per_message`: bot, stand-in and load generator together).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import emit, say, summary, use_repository_root

use_repository_root()

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from app.bootstrap import bootstrap  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.telegram import build_telegram, serve_telegram  # noqa: E402
from bots.telegram.ratelimit import OutboundRateLimitMiddleware  # noqa: E402
from bots.telegram.standin import BotApiStandIn, RateLimits  # noqa: E402
from core.booking import commands as b  # noqa: E402
from core.booking.ports import OfferCard  # noqa: E402
from core.identity.commands import GrantRole, RegisterFromChannel  # noqa: E402
from core.shared.clock import FixedClock  # noqa: E402
from core.shared.money import Money  # noqa: E402
from storage import migrate  # noqa: E402
from tests.unit.booking.fakes import FakeDirectory, FakePayments  # noqa: E402

DEFAULT_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
SECRET = "bench-relay-secret"
TARGET_P50_MS, TARGET_P99_MS = 10.0, 50.0


class TimedCalls(list[Any]):
    """The stand-in's call log, noting when each `copyMessage` arrived."""

    def __init__(self, seen: dict[tuple[int, int], float]) -> None:
        super().__init__()
        self.seen = seen

    def append(self, call: Any) -> None:
        if call.method.lower() == "copymessage" and call.ok:
            key = (int(call.params["from_chat_id"]), int(call.params["message_id"]))
            self.seen.setdefault(key, time.perf_counter())
        super().append(call)


class StatementLog:
    """SQL statements and transactions the bot issues, counted by the engines' own events:
    the deterministic cost of a relayed message, whatever the machine's load.

    `transactions` counts only those that ran a statement (with asyncpg an empty one sends
    nothing: BEGIN waits for the first statement); the relay journal's engine runs in
    autocommit, each of its statements a transaction of its own, with no BEGIN or COMMIT.
    """

    def __init__(self, engine: Any, *autocommit_engines: Any) -> None:
        self.engines = [engine.sync_engine, *(e.sync_engine for e in autocommit_engines)]
        self.counting = False
        self.statements: Counter[str] = Counter()
        self.transactions = 0
        for each in self.engines:
            sa.event.listen(each, "before_cursor_execute", self._statement)
        sa.event.listen(self.engines[0], "commit", self._commit)
        sa.event.listen(self.engines[0], "rollback", self._rollback)

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        conn.info["bench_statements"] = True
        if self.counting:
            self.statements[statement.lstrip().split(None, 1)[0].upper()] += 1

    def _commit(self, conn: Any) -> None:
        if conn.info.pop("bench_statements", False) and self.counting:
            self.transactions += 1

    def _rollback(self, conn: Any) -> None:
        conn.info.pop("bench_statements", None)

    def start(self) -> None:
        self.statements.clear()
        self.transactions = 0
        self.counting = True

    def per_message(self, messages: int) -> dict[str, float]:
        self.counting = False
        per = {kind.lower(): round(n / messages, 2) for kind, n in sorted(self.statements.items())}
        return {"total": round(sum(self.statements.values()) / messages, 2),
                "transactions": round(self.transactions / messages, 2), **per}

    def close(self) -> None:
        for each in self.engines:
            sa.event.remove(each, "before_cursor_execute", self._statement)
        sa.event.remove(self.engines[0], "commit", self._commit)
        sa.event.remove(self.engines[0], "rollback", self._rollback)


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def database(server_url: str) -> AsyncIterator[tuple[str, str]]:
    if server_url == "sqlite" or make_url(server_url).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            await asyncio.to_thread(migrate.upgrade, url, "head")
            yield url, "sqlite"
        return
    name = f"yueban_bench_relay_{uuid.uuid4().hex[:10]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(migrate.upgrade, url, "head")
        yield url, "postgresql"
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    seen: dict[tuple[int, int], float] = {}
    async with BotApiStandIn.running(rate_limits=RateLimits.off()) as standin:
        standin.bot.calls = TimedCalls(seen)
        port = _free_port()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            mode="demo", database_url=url, redis_url=args.redis_url or None,
            telegram_token=standin.token, telegram_api_base=standin.base_url,
            telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
            telegram_webhook_secret=SECRET, http_port=port,
            telegram_messages_per_second=1_000_000,
            telegram_user_updates_per_second=1_000, telegram_user_updates_burst=1_000,
        )
        clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
        directory = FakeDirectory()
        directory.add_category(1, "online_session")
        runtime = bootstrap(settings, clock=clock,
                            overrides={"directory": directory, "payments": FakePayments()})
        # The units of work's engine, and the relay journal's own (PostgreSQL).
        journal = runtime.bus.dependencies.get("relay_journal")
        statements = StatementLog(runtime.engine, *([journal.engine] if journal else []))
        redis = None
        if args.redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(args.redis_url)
        namespace = f"yueban-bench-relay-{uuid.uuid4().hex[:8]}"
        service = build_telegram(settings, runtime, redis=redis, redis_namespace=namespace)
        for middleware in service.bot.session.middleware:
            if isinstance(middleware, OutboundRateLimitMiddleware):
                middleware.limits = dataclasses.replace(
                    middleware.limits, per_chat_per_second=1_000.0, per_chat_burst=1_000)
        stop = asyncio.Event()
        task = asyncio.create_task(serve_telegram(service, stop))
        try:
            while standin.bot.webhook is None:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            say(f"opening {args.pairs} order chats")
            pairs = []
            bus = runtime.bus
            for n in range(args.pairs):
                people = []
                for role in ("customer", "provider"):
                    sim = standin.create_user(f"{role[0].upper()}{n}", language_code="zh")
                    user = await bus.handle(RegisterFromChannel(
                        platform="telegram", external_id=str(sim.id), chat_id=str(sim.id),
                        display_name=sim.user["first_name"], language_code="zh"))
                    directory.add_person(int(user.id))
                    people.append((sim, int(user.id)))
                (customer, customer_id), (provider, provider_id) = people
                await bus.handle(GrantRole(user_id=provider_id, role="provider"))
                directory.add_provider(provider_id, offer_id=1000 + n, category_id=1)
                directory.offers[1000 + n] = OfferCard(1000 + n, provider_id, 1, Money(5000, "CNY"))
                start = clock.now().replace(hour=10) + timedelta(days=1)
                order = await bus.handle(b.BookOrder(actor_id=customer_id, offer_id=1000 + n,
                                                     units=1, start=start))
                await bus.handle(b.PayOrder(actor_id=customer_id, order_id=order.id))
                await bus.handle(b.AcceptOrder(actor_id=provider_id, order_id=order.id))
                pairs.append((customer, provider))
            # Everybody has said something once, so the timed part measures the steady state.
            for customer, provider in pairs:
                await customer.send_text("你好")
                await provider.send_text("你好，请问什么时候开始？")
            await _until(lambda: len(seen) >= 2 * len(pairs), 60)
            await service.relay.drain()
            seen.clear()
            statements.start()
            cpu_started = time.process_time()
            total = int(args.rate * args.seconds)
            say(f"relay: {total} messages at {args.rate}/s between {len(pairs)} pairs")
            sent: dict[tuple[int, int], float] = {}
            started = time.perf_counter()
            for i in range(total):
                due = started + i / args.rate
                pause = due - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
                customer, provider = pairs[i % len(pairs)]
                sender = customer if (i // len(pairs)) % 2 == 0 else provider
                message = await sender.send_text(f"第 {i} 条：今晚 8 点开始，段位钻石")
                sent[(sender.id, int(message["message_id"]))] = time.perf_counter()
            await _until(lambda: all(k in seen for k in sent), 120)
            elapsed = time.perf_counter() - started
            await service.relay.drain()
            cpu_ms = (time.process_time() - cpu_started) * 1000 / total
            sql = statements.per_message(total)
        finally:
            stop.set()
            await task
            if redis is not None:
                keys = [key async for key in redis.scan_iter(f"{namespace}:*")]
                if keys:
                    await redis.delete(*keys)
                await redis.aclose()
            statements.close()
            await runtime.close()
    latencies = [(seen[k] - t) * 1000 for k, t in sent.items() if k in seen]
    return {"messages": total, "delivered": len(latencies), "lost": total - len(latencies),
            "seconds": round(elapsed, 2), "latency_ms": summary(latencies),
            # Per relayed message, in this process (bot, stand-in and load generator together).
            "cpu_ms_per_message": round(cpu_ms, 3), "sql_per_message": sql}


async def _until(condition: Any, within: float) -> None:
    deadline = time.perf_counter() + within
    while not condition():
        if time.perf_counter() > deadline:
            return
        await asyncio.sleep(0.01)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 seconds.")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--database-url",
                        default=os.environ.get("YUEBAN_BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--redis-url",
                        default=os.environ.get("YUEBAN_BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args()
    args.seconds = args.seconds or (10.0 if args.quick else 60.0)
    logging.basicConfig(level=logging.ERROR)
    async with database(args.database_url) as (url, kind):
        result = await run(args, url)
    latency = result["latency_ms"]
    p50, p99 = latency["p50_ms"], latency["p99_ms"]
    emit({"bench": "relay", "quick": args.quick, "database": kind,
          "redis": bool(args.redis_url), "pairs": args.pairs, "rate": args.rate, **result,
          "p50_ms": p50, "p99_ms": p99,
          "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS},
          "met": p50 < TARGET_P50_MS and p99 < TARGET_P99_MS and result["lost"] == 0})
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
