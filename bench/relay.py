"""Relay latency: order chats through Yueban's bot over the Telegram stand-in.

100 customer/provider pairs with an accepted order each talk at 200 messages/s in all
(each side of a pair in turn) through the stand-in's webhook delivery to Yueban's bot as
`yueban run` serves it (dedup, throttling, actor lookup, `RouteInbound` on the database,
`copyMessage`, then `RecordRelayed`). Measured per message: from the moment the update is
queued in the stand-in to the moment the stand-in receives the bot's `copyMessage` for it.
Telegram's per-chat pacing is taken off the bot's outbound limiter here (it is measured in
`bench/telegram_throughput.py`); the stand-in's flood limits are off.

What runs where: the bot runs in processes of its own (multiprocessing "spawn"), as in
production, where Telegram's servers do not share the bot's CPU: `--workers` of them (default
1, as `yueban run` serves by default; with more, as YUEBAN_HTTP_WORKERS=N does) listening on
one port (SO_REUSEPORT), sharing Redis and PostgreSQL. On two cores shared with the stand-in,
PostgreSQL and Redis, one worker does better than two: each worker routes from a memory of
its own and batches its own writes. Each bootstraps its runtime on the
scratch database (the first also seeds the pairs and their accepted orders through its bus),
serves the webhook (`build_telegram`/`serve_telegram`, only the first registering it), and
measures its CPU time and SQL between the parent's start and stop signals, then flushes its
relay journal and closes. This
process runs the stand-in and the load generator, warms every chat up outside the window, and
times each message on the stand-in's call log. A bot process that dies fails the run at once
with its traceback.

The floor, measured first in the same run under the same load (skip it with `--no-floor`): a
bare aiogram bot in its own process that copies each message to the other side of its pair
with one `copyMessage` and does nothing else (no database, Redis, dedup, routing, masking or
transcript), served by aiogram's own webhook handler. Its latency is what this machine gives
any aiogram bot at this rate; the JSON's `floor` and `cpu_vs_floor` read Yueban against it.

    python bench/relay.py [--quick] [--pairs N] [--rate R] [--seconds S] [--workers N]
                          [--database-url URL] [--redis-url URL] [--no-floor]

Defaults: PostgreSQL `YUEBAN_BENCH_DATABASE_URL` (else postgresql+asyncpg://postgres@
127.0.0.1:5432/test), on which a scratch database is created and dropped, and Redis
`YUEBAN_BENCH_REDIS_URL` (else redis://127.0.0.1:6379/0). `--database-url sqlite` runs on a
fresh SQLite file in a temporary folder both processes see. `--quick`: 10 s. Targets:
p50 < 10 ms, p99 < 50 ms. The last line is JSON; besides latency it gives, per relayed
message, the SQL statements and transactions the bot issued (`sql_per_message`,
deterministic), the bot processes' CPU time, all workers together (`cpu_ms_per_message`, the
same as `bot_cpu_ms_per_message`: the figure that matters) and this process's (stand-in and
load generator, `driver_cpu_ms_per_message`). Each worker keeps up only while its share of
rate x `bot_cpu_ms_per_message` stays well under 1000 ms a second (one core); past that its
queue grows and latency with it. On a small machine the workers, the stand-in, PostgreSQL
and Redis share the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import logging
import multiprocessing
import os
import queue
import time
import traceback
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from common import emit, forget_redis, say, scratch_database, summary, use_repository_root

use_repository_root()

import sqlalchemy as sa  # noqa: E402

from app.bootstrap import bootstrap  # noqa: E402
from app.process import tune_collector  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.telegram import build_telegram, serve_telegram  # noqa: E402
from bots.telegram.ratelimit import OutboundRateLimitMiddleware  # noqa: E402
from bots.telegram.standin import BotApiStandIn, RateLimits  # noqa: E402
from core.booking import commands as b  # noqa: E402
from core.booking.ports import OfferCard  # noqa: E402
from core.identity.commands import GrantRole, RegisterFromChannel  # noqa: E402
from core.shared.clock import FixedClock  # noqa: E402
from core.shared.money import Money  # noqa: E402
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


def _bot_process(config: dict[str, Any], users: list[tuple[int, str, int, str]], index: int,
                 start: Any, stop: Any, answers: Any) -> None:
    """A worker process of the bot: the first seeds the order chats; each serves as a worker
    of `yueban run` does, and measures itself between the parent's `start` and `stop`."""
    logging.basicConfig(level=logging.ERROR)
    try:
        asyncio.run(_serve_bot(config, users, index, start, stop, answers))
    except BaseException:
        answers.put(("failed", traceback.format_exc()))
        raise SystemExit(1) from None
    answers.put(("closed", None))


def _floor_process(config: dict[str, Any], users: list[tuple[int, str, int, str]], index: int,
                   start: Any, stop: Any, answers: Any) -> None:
    """The floor: a bare aiogram bot in its own process that copies every message to the
    other side of its pair (one `copyMessage`, nothing else: no database, no Redis, no
    checks), served by aiogram's own webhook handler. What any Python bot on aiogram costs
    here; Yueban's figures are read against it."""
    logging.basicConfig(level=logging.ERROR)
    try:
        asyncio.run(_serve_floor(config, users, start, stop, answers))
    except BaseException:
        answers.put(("failed", traceback.format_exc()))
        raise SystemExit(1) from None
    answers.put(("closed", None))


async def _serve_floor(config: dict[str, Any], users: list[tuple[int, str, int, str]],
                       start: Any, stop: Any, answers: Any) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler
    from aiohttp import web

    settings = config["settings"]
    partner = {c: p for c, _, p, _ in users} | {p: c for c, _, p, _ in users}
    bot = Bot(settings["telegram_token"], session=AiohttpSession(
        api=TelegramAPIServer.from_base(settings["telegram_api_base"])))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def copy(message: Message) -> None:
        await bot.copy_message(chat_id=partner[message.chat.id], from_chat_id=message.chat.id,
                               message_id=message.message_id)

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=SECRET,
                         handle_in_background=True).register(app, "/telegram/webhook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", settings["http_port"]).start()
        await bot.set_webhook(settings["telegram_webhook_url"], secret_token=SECRET)
        tune_collector()  # the same collector as Yueban's processes
        answers.put(("ready", None))
        await _signalled(start, None)
        cpu_started = time.process_time()
        answers.put(("measuring", None))
        await _signalled(stop, None)
        cpu_ms = (time.process_time() - cpu_started) * 1000 / config["messages"]
        answers.put(("measured", {"cpu_ms_per_message": round(cpu_ms, 3),
                                  "sql_per_message": {}}))
    finally:
        await runner.cleanup()
        await bot.session.close()


async def _serve_bot(config: dict[str, Any], users: list[tuple[int, str, int, str]], index: int,
                     start: Any, stop: Any, answers: Any) -> None:
    settings = Settings(_env_file=None, **config["settings"])  # type: ignore[call-arg]
    clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    directory = FakeDirectory()
    directory.add_category(1, "online_session")
    runtime = bootstrap(settings, clock=clock,
                        overrides={"directory": directory, "payments": FakePayments()})
    # The units of work's engine, and the relay journal's own (PostgreSQL).
    journal = runtime.bus.dependencies.get("relay_journal")
    statements = StatementLog(runtime.engine, *([journal.engine] if journal else []))
    redis = None
    if config["redis_url"]:
        from storage.redis_client import redis_client

        redis = redis_client(config["redis_url"])
    namespace = config["namespace"]
    service = build_telegram(settings, runtime, redis=redis, redis_namespace=namespace)
    for middleware in service.bot.session.middleware:
        if isinstance(middleware, OutboundRateLimitMiddleware):
            middleware.limits = dataclasses.replace(
                middleware.limits, per_chat_per_second=1_000.0, per_chat_burst=1_000)
    stopping = asyncio.Event()
    serving: asyncio.Task[None] | None = None
    try:
        if index == 0:
            await _seed(runtime.bus, clock, directory, users)
        serving = asyncio.create_task(serve_telegram(service, stopping, announce=index == 0))
        tune_collector()  # as `yueban run` does once it is wired
        answers.put(("ready", None))
        await _signalled(start, serving)
        await service.relay.drain()  # the warm-up's copies are not the window's
        profile = config["profile"] if index == 0 else None
        profiler = cProfile.Profile(time.process_time) if profile else None
        statements.start()
        cpu_started = time.process_time()
        if profiler is not None:
            profiler.enable()
        answers.put(("measuring", None))
        await _signalled(stop, serving)
        await service.relay.drain()
        if profiler is not None:
            profiler.disable()
        cpu_ms = (time.process_time() - cpu_started) * 1000 / config["messages"]
        if profiler is not None:
            profiler.dump_stats(profile)
        answers.put(("measured", {"cpu_ms_per_message": round(cpu_ms, 3),
                                  "sql_per_message": statements.per_message(config["messages"])}))
    finally:
        stopping.set()
        if serving is not None:
            await serving
        if redis is not None:
            await forget_redis(redis, namespace)
        statements.close()
        await runtime.close()  # flushes the relay journal


async def _seed(bus: Any, clock: FixedClock, directory: FakeDirectory,
                users: list[tuple[int, str, int, str]]) -> None:
    """Each pair's two people, and an order between them paid and accepted."""
    for n, (customer_sim, customer_name, provider_sim, provider_name) in enumerate(users):
        ids = []
        for sim, name in ((customer_sim, customer_name), (provider_sim, provider_name)):
            user = await bus.handle(RegisterFromChannel(
                platform="telegram", external_id=str(sim), chat_id=str(sim),
                display_name=name, language_code="zh"))
            directory.add_person(int(user.id))
            ids.append(int(user.id))
        customer_id, provider_id = ids
        await bus.handle(GrantRole(user_id=provider_id, role="provider"))
        directory.add_provider(provider_id, offer_id=1000 + n, category_id=1)
        directory.offers[1000 + n] = OfferCard(1000 + n, provider_id, 1, Money(5000, "CNY"))
        start = clock.now().replace(hour=10) + timedelta(days=1)
        order = await bus.handle(b.BookOrder(actor_id=customer_id, offer_id=1000 + n,
                                             units=1, start=start))
        await bus.handle(b.PayOrder(actor_id=customer_id, order_id=order.id))
        await bus.handle(b.AcceptOrder(actor_id=provider_id, order_id=order.id))


async def _signalled(event: Any, serving: asyncio.Task[None] | None) -> None:
    """Wait for the parent's signal while serving; a bot that stopped serving fails at once.
    (Polled, not waited in a thread: a thread blocked on the event would outlive a failure.)"""
    while not event.is_set():
        if serving is not None and serving.done():
            serving.result()
            raise RuntimeError("the bot stopped serving before it was told to")
        await asyncio.sleep(0.02)


class BotProcess:
    """The parent's view of the bot process: its answers, and its failure the moment it dies."""

    def __init__(self, process: Any, answers: Any) -> None:
        self.process = process
        self.answers = answers

    def check(self) -> None:
        if self.process.exitcode is None:
            return
        error = f"exit code {self.process.exitcode}"
        with contextlib.suppress(queue.Empty, OSError, EOFError):
            while True:
                kind, value = self.answers.get(timeout=1)
                if kind == "failed":
                    error = value
                    break
        raise RuntimeError(f"the bot process died:\n{error}")

    async def expect(self, kind: str, within: float = 600) -> Any:
        deadline = time.perf_counter() + within
        while True:
            try:
                got, value = self.answers.get_nowait()
            except queue.Empty:
                if kind == "closed" and self.process.exitcode == 0:
                    return None
                self.check()
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"the bot process did not say {kind!r}") from None
                await asyncio.sleep(0.01)
                continue
            if got == "failed":
                raise RuntimeError(f"the bot process failed:\n{value}")
            if got != kind:
                raise RuntimeError(f"the bot process said {got!r}, not {kind!r}")
            return value

    async def join(self, within: float) -> None:
        for _ in range(int(within / 0.05)):
            if not self.process.is_alive():
                return
            await asyncio.sleep(0.05)
        if self.process.is_alive():
            self.process.terminate()
            await asyncio.to_thread(self.process.join, 10)
            raise RuntimeError("the bot process did not shut down; it was terminated")


async def run(args: argparse.Namespace, url: str, *, floor: bool = False) -> dict[str, Any]:
    seen: dict[tuple[int, int], float] = {}
    total = int(args.rate * args.seconds)
    workers = 1 if floor else args.workers
    async with BotApiStandIn.running(rate_limits=RateLimits.off()) as standin:
        standin.bot.calls = TimedCalls(seen)
        port = _free_port()
        pairs = [(standin.create_user(f"C{n}", language_code="zh"),
                  standin.create_user(f"P{n}", language_code="zh")) for n in range(args.pairs)]
        config = {
            "settings": {
                "mode": "demo", "database_url": url, "redis_url": args.redis_url or None,
                "telegram_token": standin.token, "telegram_api_base": standin.base_url,
                "telegram_webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
                "telegram_webhook_secret": SECRET, "http_port": port,
                "http_workers": workers,
                "telegram_messages_per_second": 1_000_000,
                "telegram_user_updates_per_second": 1_000, "telegram_user_updates_burst": 1_000,
            },
            "redis_url": args.redis_url,
            "namespace": f"yueban-bench-relay-{uuid.uuid4().hex[:8]}",
            "messages": total,
            "profile": args.profile,
        }
        users = [(c.id, c.user["first_name"], p.id, p.user["first_name"]) for c, p in pairs]
        context = multiprocessing.get_context("spawn")
        start, stop = context.Event(), context.Event()
        bots: list[BotProcess] = []

        def launch(index: int) -> BotProcess:
            answers = context.Queue()
            process = context.Process(target=_floor_process if floor else _bot_process,
                                      name=f"yueban-bot-{index}",
                                      daemon=True,
                                      args=(config, users, index, start, stop, answers))
            process.start()
            bots.append(BotProcess(process, answers))
            return bots[-1]

        def check() -> None:
            for bot in bots:
                bot.check()

        say("starting the floor: a bare aiogram bot copying each message" if floor else
            f"starting the bot: {workers} worker process(es) on one port; "
            f"opening {args.pairs} order chats")
        try:
            await launch(0).expect("ready")  # the first seeds the chats, then serves
            for index in range(1, workers):
                launch(index)
            for bot in bots[1:]:
                await bot.expect("ready")
            await _until(lambda: standin.bot.webhook is not None, 60, check)
            if standin.bot.webhook is None:
                raise RuntimeError("the bot did not register its webhook")
            # Everybody has said something, so the timed part measures the steady state (each
            # worker remembers routes of its own: a few rounds reach every worker).
            for _ in range(workers + 1):
                for customer, provider in pairs:
                    await customer.send_text("你好")
                    await provider.send_text("你好，请问什么时候开始？")
                await _until(lambda: len(seen) >= 2 * len(pairs), 60, check)
                seen.clear()
            start.set()
            for bot in bots:
                await bot.expect("measuring")
            cpu_started = time.process_time()
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
                if sender is customer:
                    check()
                message = await sender.send_text(f"第 {i} 条：今晚 8 点开始，段位钻石")
                sent[(sender.id, int(message["message_id"]))] = time.perf_counter()
            await _until(lambda: all(k in seen for k in sent), 120, check)
            elapsed = time.perf_counter() - started
            driver_cpu_ms = (time.process_time() - cpu_started) * 1000 / total
            stop.set()
            measured = [await bot.expect("measured") for bot in bots]
            for bot in bots:
                await bot.expect("closed", 120)
        finally:
            start.set()  # a run that failed early still lets the bot shut down in order
            stop.set()
            for bot in bots:
                await bot.join(120)
    # Per relayed message, all workers together: each divided its own by the whole count.
    bot_cpu_ms = round(sum(m["cpu_ms_per_message"] for m in measured), 3)
    sql: Counter[str] = Counter()
    for m in measured:
        sql.update(m["sql_per_message"])
    sql_per_message = {kind: round(value, 2) for kind, value in sql.items()}
    if args.profile:
        say(f"profile of the bot process over the window: {config['profile']}")
    latencies = [(seen[k] - t) * 1000 for k, t in sent.items() if k in seen]
    return {"messages": total, "delivered": len(latencies), "lost": total - len(latencies),
            "seconds": round(elapsed, 2), "latency_ms": summary(latencies),
            # Per relayed message: the bot's process (the figure that matters), and this one's
            # (stand-in and load generator) apart.
            "cpu_ms_per_message": bot_cpu_ms, "bot_cpu_ms_per_message": bot_cpu_ms,
            "driver_cpu_ms_per_message": round(driver_cpu_ms, 3),
            "bot_process": "separate", "workers": workers,
            "sql_per_message": sql_per_message}


async def _until(condition: Any, within: float, check: Any) -> None:
    deadline = time.perf_counter() + within
    while not condition():
        check()
        if time.perf_counter() > deadline:
            return
        await asyncio.sleep(0.01)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 seconds.")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes of the bot on one port, as YUEBAN_HTTP_WORKERS")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--database-url",
                        default=os.environ.get("YUEBAN_BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--redis-url",
                        default=os.environ.get("YUEBAN_BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the floor run (a bare aiogram bot copying each message)")
    parser.add_argument("--profile", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.seconds = args.seconds or (10.0 if args.quick else 60.0)
    args.profile = os.path.abspath(args.profile) if args.profile else None
    return args


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR)
    async with scratch_database(args.database_url, "relay") as (url, kind):
        if args.workers > 1 and (kind == "sqlite" or not args.redis_url):
            say("one worker: several need PostgreSQL and Redis, as `yueban run` does")
            args.workers = 1
        floor = None if args.no_floor else await run(args, url, floor=True)
        result = await run(args, url)
    latency = result["latency_ms"]
    p50, p99 = latency["p50_ms"], latency["p99_ms"]
    if floor is not None:
        say(f"floor (bare aiogram copy bot): p50 {floor['latency_ms']['p50_ms']} ms, "
            f"p99 {floor['latency_ms']['p99_ms']} ms, "
            f"{floor['bot_cpu_ms_per_message']} ms CPU per message")
    say(f"yueban: p50 {p50} ms, p99 {p99} ms, {result['bot_cpu_ms_per_message']} ms CPU "
        "per message")
    emit({"bench": "relay", "quick": args.quick, "database": kind,
          "redis": bool(args.redis_url), "pairs": args.pairs, "rate": args.rate, **result,
          "floor": None if floor is None else {
              "p50_ms": floor["latency_ms"]["p50_ms"], "p99_ms": floor["latency_ms"]["p99_ms"],
              "bot_cpu_ms_per_message": floor["bot_cpu_ms_per_message"],
              "driver_cpu_ms_per_message": floor["driver_cpu_ms_per_message"],
              "lost": floor["lost"]},
          "cpu_vs_floor": None if floor is None else round(
              result["bot_cpu_ms_per_message"] / floor["bot_cpu_ms_per_message"], 2),
          "p50_ms": p50, "p99_ms": p99,
          "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS},
          "met": p50 < TARGET_P50_MS and p99 < TARGET_P99_MS and result["lost"] == 0})
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(_arguments())))
