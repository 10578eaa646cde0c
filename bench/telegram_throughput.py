"""Telegram throughput: webhook intake against a bare aiogram echo bot, and a paced broadcast.

1. Updates. The same simulated users send the same number of updates through the local
   Bot API stand-in's webhook delivery (real HTTP, one conversation's updates in order,
   40 connections) to (a) a bare aiogram echo bot (aiogram's own webhook handler, one
   `message.answer` per update) and (b) Yueban's bot as `yueban run` serves it (dedup,
   throttling, actor lookup, the bus, the database, the reply). The clock runs from the
   first update queued to the last reply seen. Yueban's mix is what its bot can do today:
   each user sends /start (registers them), /language en|zh (a write) and /help. The
   stand-in's flood limits are off for this part so both bots are measured, not Telegram.
2. Broadcast. 3,000 messages to 3,000 people through `TelegramMessenger` (64 sends at a
   time, as the notice relay does) against a stand-in in its own process (a server does
   not pause when the sender does) that enforces 300 messages/s for the bot, with Yueban's
   outbound limiter set to the same 300/s (in Redis with `--redis-url`). Reported: achieved
   rate over the limit (target >= 0.9), 429s seen, and messages lost (must be 0).

    python bench/telegram_throughput.py [--quick] [--database-url URL] [--redis-url URL]

The database is a fresh SQLite file unless `--database-url` names a PostgreSQL server, on
which a throw-away database is created and dropped. `--quick`: 200 users (600 updates).
The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from common import emit, say, use_repository_root

use_repository_root()

import aiohttp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import Message  # noqa: E402
from aiogram.webhook.aiohttp_server import SimpleRequestHandler  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.bootstrap import bootstrap  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.telegram import build_telegram, serve_telegram  # noqa: E402
from bots.telegram.factory import build_bot  # noqa: E402
from bots.telegram.messenger import TelegramMessenger  # noqa: E402
from bots.telegram.ratelimit import InProcessRateLimiter, OutboundLimits, RedisRateLimiter  # noqa: E402
from bots.telegram.standin import BotApiStandIn, BotWorld, RateLimits, SimUser  # noqa: E402
from core.ports import ChannelAddress  # noqa: E402
from core.shared.messages import Notice  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import create_engine  # noqa: E402

SCRIPT = str(Path(__file__).resolve())
SECRET = "bench-webhook-secret"
ECHO_TOKEN = "7000000002:bench-echo-bot"
BROADCAST_TOKEN = "7000000003:bench-broadcast-bot"
BROADCAST_MESSAGES = 3_000
BROADCAST_LIMIT = 300
MIX = ("/start", "/language", "/help")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def replies_in(world: BotWorld, after: int = 0) -> int:
    return sum(1 for e in world.events[after:] if e.kind == "message" and e.data["from_bot"])


async def wait_for_replies(world: BotWorld, expected: int, within: float) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    seen, checked = 0, 0
    while True:
        total = len(world.events)
        seen += replies_in(world, checked)
        checked = total
        if seen >= expected or loop.time() > deadline:
            return seen
        await world.events_changed.wait(0.05)


async def drive(world: BotWorld, users: list[SimUser], scripts: list[list[str]]) -> tuple[float, int]:
    """Queue every user's updates round by round; seconds until all replies, replies seen."""
    expected = replies_in(world) + sum(len(s) for s in scripts)
    started = time.perf_counter()
    for turn in range(max(len(s) for s in scripts)):
        for user, script in zip(users, scripts, strict=True):
            if turn < len(script):
                await user.send_text(script[turn])
    seen = await wait_for_replies(world, expected, within=300)
    return time.perf_counter() - started, seen - (expected - sum(len(s) for s in scripts))


# -- (a) the bare echo bot ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def echo_bot(standin: BotApiStandIn) -> AsyncIterator[BotWorld]:
    world = standin.add_bot(ECHO_TOKEN, username="echo_bench_bot", first_name="Echo")
    bot = Bot(ECHO_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url)))
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=SECRET).register(app, path="/webhook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await bot.set_webhook(f"http://127.0.0.1:{port}/webhook", secret_token=SECRET)
    try:
        yield world
    finally:
        await runner.cleanup()
        await bot.session.close()


# -- (b) Yueban's bot ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def yueban_bot(
    standin: BotApiStandIn, database_url: str, redis_url: str | None
) -> AsyncIterator[BotWorld]:
    port = free_port()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mode="demo",
        database_url=database_url,
        redis_url=redis_url,
        telegram_token=standin.token,
        telegram_api_base=standin.base_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
        telegram_webhook_secret=SECRET,
        http_port=port,
        # Measured here is the bot, not Telegram's flood control (off in the stand-in too).
        telegram_messages_per_second=1_000_000,
        telegram_user_updates_per_second=1_000,
        telegram_user_updates_burst=1_000,
    )
    runtime = bootstrap(settings)
    redis = None
    if redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(redis_url)
    namespace = f"yueban-bench-{uuid.uuid4().hex[:8]}"
    service = build_telegram(settings, runtime, redis=redis, redis_namespace=namespace)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_telegram(service, stop))
    try:
        while standin.bot.webhook is None:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield standin.bot
    finally:
        stop.set()
        await task
        if redis is not None:
            keys = [key async for key in redis.scan_iter(f"{namespace}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
        await runtime.close()


async def updates_part(
    standin: BotApiStandIn, users: int, database_url: str, redis_url: str | None
) -> dict[str, Any]:
    async with echo_bot(standin) as world:
        people = [standin.create_user(f"E{n}", world=world) for n in range(users)]
        scripts = [[f"hello {n}", f"how are you {n}", f"bye {n}"] for n in range(users)]
        echo_seconds, echo_replies = await drive(world, people, scripts)
    say(f"  echo bot: {3 * users} updates in {echo_seconds:.2f} s")

    async with yueban_bot(standin, database_url, redis_url) as world:
        people = [
            standin.create_user(f"Y{n}", language_code="zh" if n % 2 else "en")
            for n in range(users)
        ]
        scripts = [["/start", f"/language {'en' if n % 2 else 'zh'}", "/help"] for n in range(users)]
        yueban_seconds, yueban_replies = await drive(world, people, scripts)
    say(f"  yueban bot: {3 * users} updates in {yueban_seconds:.2f} s")

    total = 3 * users
    echo_rate, yueban_rate = total / echo_seconds, total / yueban_seconds
    return {
        "updates": total,
        "users": users,
        "echo_updates_per_s": round(echo_rate, 1),
        "yueban_updates_per_s": round(yueban_rate, 1),
        "ratio": round(yueban_rate / echo_rate, 3),
        "yueban_mix": {command: users for command in MIX},
        "unanswered": {"echo": total - echo_replies, "yueban": total - yueban_replies},
    }


# -- broadcast ----------------------------------------------------------------------------------


async def broadcast_part(redis_url: str | None) -> dict[str, Any]:
    # Its own stand-in process, as Telegram is another machine: the server's clock and work
    # must not pause when the sender's process does.
    async with standin_process(BROADCAST_LIMIT) as (base_url, token):
        async with aiohttp.ClientSession() as http:
            creating = asyncio.Semaphore(32)

            async def new_person(n: int) -> int:
                async with creating:
                    body = {"first_name": f"B{n}"}
                    async with http.post(f"{base_url}/_standin/users", json=body) as response:
                        return int((await response.json())["result"]["id"])

            people = await asyncio.gather(*(new_person(n) for n in range(BROADCAST_MESSAGES)))
            redis = None
            if redis_url:
                from redis.asyncio import Redis

                redis = Redis.from_url(redis_url)
            prefix = f"yueban-bench-{uuid.uuid4().hex[:8]}:rate:"
            limiter = RedisRateLimiter(redis, prefix=prefix) if redis else InProcessRateLimiter()
            bot = build_bot(
                token,
                api_base=base_url,
                limiter=limiter,
                limits=OutboundLimits(per_bot_per_second=BROADCAST_LIMIT),
            )
            messenger = TelegramMessenger(bot)
            delivered = 0

            sending = asyncio.Semaphore(64)  # as many at once as the notice relay sends

            async def send(chat_id: int) -> None:
                nonlocal delivered
                async with sending:
                    result = await messenger.deliver(
                        Notice(0, "tg.help"), ChannelAddress("telegram", str(chat_id), "en")
                    )
                    delivered += result.delivered

            started = time.perf_counter()
            try:
                await asyncio.gather(*(send(chat_id) for chat_id in people))
            finally:
                await bot.session.close()
                if redis is not None:
                    keys = [key async for key in redis.scan_iter(f"{prefix}*")]
                    if keys:
                        await redis.delete(*keys)
                    await redis.aclose()
            seconds = time.perf_counter() - started
            async with http.get(f"{base_url}/_standin/calls?method=sendMessage") as response:
                calls = (await response.json())["result"]
    received = {int(c["params"]["chat_id"]) for c in calls if c["ok"]}
    achieved = BROADCAST_MESSAGES / seconds
    say(f"  broadcast: {BROADCAST_MESSAGES} messages in {seconds:.2f} s ({achieved:.0f}/s)")
    return {
        "messages": BROADCAST_MESSAGES,
        "limit_per_s": BROADCAST_LIMIT,
        "seconds": round(seconds, 2),
        "achieved_per_s": round(achieved, 1),
        "achieved_over_limit": round(achieved / BROADCAST_LIMIT, 3),
        "http_429": sum(1 for c in calls if c["error_code"] == 429),
        "lost": len(set(people) - received),
        "reported_delivered": delivered,
        "limiter": "redis" if redis_url else "in-process",
        "stand_in": "separate process",
    }


@contextlib.asynccontextmanager
async def standin_process(limit: int) -> AsyncIterator[tuple[str, str]]:
    """A stand-in in a child process limiting the bot to `limit` messages/s: (URL, token)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, SCRIPT, "--serve-standin", str(limit),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    line = (await asyncio.wait_for(child.stdout.readline(), 120)).decode().split()
    try:
        yield line[1], line[2]
    finally:
        child.stdin.close()
        await child.wait()


async def serve_standin(limit: int) -> None:
    """The child's side: serve until the parent closes our stdin."""
    limits = RateLimits(per_bot_per_second=limit, per_bot_burst=30)
    async with BotApiStandIn.running(rate_limits=limits) as standin:
        print("READY", standin.base_url, standin.token, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- running ------------------------------------------------------------------------------------


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def database(server_url: str | None) -> AsyncIterator[tuple[str, str]]:
    """A migrated, empty database for the run: (URL, "sqlite" | "postgresql")."""
    if server_url is None or make_url(server_url).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            await asyncio.to_thread(migrate.upgrade, url, "head")
            yield url, "sqlite"
        return
    name = f"yueban_bench_tg_{uuid.uuid4().hex[:10]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(migrate.upgrade, url, "head")
        yield url, "postgresql"
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 users, 600 updates.")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL.")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--serve-standin", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_standin:
        await serve_standin(args.serve_standin)
        return 0
    users = args.users or (200 if args.quick else 1_000)
    logging.basicConfig(level=logging.ERROR)
    say(f"telegram throughput: {3 * users} updates from {users} users, then a broadcast")
    async with database(args.database_url) as (url, kind):
        async with BotApiStandIn.running(rate_limits=RateLimits.off()) as standin:
            updates = await updates_part(standin, users, url, args.redis_url)
        broadcast = await broadcast_part(args.redis_url)
    emit({
        "bench": "telegram_throughput",
        "quick": args.quick,
        "database": kind,
        "redis": bool(args.redis_url),
        **updates,
        "broadcast": broadcast,
    })
    ok = broadcast["lost"] == 0 and not any(updates["unanswered"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
