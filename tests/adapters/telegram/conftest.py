"""Fixtures: the local Bot API stand-in and Yueban's bot served against it over real HTTP.

`running_bot` starts the production service (`app.telegram.serve_telegram`: webhook or long
polling, /healthz, the notice relay) on a free port, wired to the test's database (SQLite
and PostgreSQL through `engine`) and, when given, Redis. Simulated users talk to it through
the stand-in exactly as people talk to the real bot through Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from app.telegram import TelegramService, build_telegram, serve_telegram
from bots.telegram.standin import BotApiStandIn, RateLimits
from core.shared.clock import FixedClock

WEBHOOK_SECRET = "test-webhook-secret_1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn.running(rate_limits=RateLimits.off()) as running:
        yield running


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def bot_settings(database_url: str, standin: BotApiStandIn) -> SettingsFactory:
    """Settings for a bot on the stand-in, in webhook mode unless told `webhook=False`."""

    def make(*, webhook: bool = True, **changes: Any) -> Settings:
        port = free_port()
        values: dict[str, Any] = {
            "_env_file": None,
            "mode": "demo",
            "database_url": database_url,
            "telegram_token": standin.token,
            "telegram_api_base": standin.base_url,
            "http_port": port,
        }
        if webhook:
            values["telegram_webhook_url"] = f"http://127.0.0.1:{port}/telegram/webhook"
            values["telegram_webhook_secret"] = WEBHOOK_SECRET
        values.update(changes)
        return Settings(**values)

    return make


@dataclass
class RunningBot:
    service: TelegramService
    standin: BotApiStandIn
    runtime: Runtime

    @property
    def url(self) -> str:
        return f"http://{self.service.settings.http_host}:{self.service.settings.http_port}"

    async def settle(self, within: float = 5.0) -> None:
        """Wait until every update the stand-in queued has been handled by the bot."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        endpoint = self.service.endpoint
        while True:
            queued = [p for p in self.standin.bot.pending if not p.delivered or p.in_flight]
            busy = endpoint.in_flight if endpoint is not None else 0
            if not queued and not busy:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"{len(queued)} updates queued, {busy} in flight")
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings,
    runtime: Runtime,
    standin: BotApiStandIn,
    *,
    redis: Any = None,
) -> AsyncIterator[RunningBot]:
    namespace = f"yueban-test-{uuid.uuid4().hex[:8]}"
    service = build_telegram(settings, runtime, redis=redis, redis_namespace=namespace)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_telegram(service, stop))
    running = RunningBot(service, standin, runtime)
    try:
        await _until_up(running, task, webhook=service.endpoint is not None)
        yield running
    finally:
        stop.set()
        await task
        if redis is not None:
            keys = [key async for key in redis.scan_iter(f"{namespace}:*")]
            if keys:
                await redis.delete(*keys)


async def _until_up(running: RunningBot, task: asyncio.Task[None], *, webhook: bool) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(500):
            if task.done():
                task.result()
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(running.url + "/healthz") as response:
                    ready = response.status == 200
                if ready and (not webhook or running.standin.bot.webhook is not None):
                    return
            await asyncio.sleep(0.01)
    raise TimeoutError("the bot did not come up")


@pytest.fixture
async def tg(
    bot_settings: SettingsFactory, engine: AsyncEngine, clock: FixedClock, standin: BotApiStandIn
) -> AsyncIterator[RunningBot]:
    """Yueban's bot in webhook mode, state in this process."""
    settings = bot_settings()
    runtime = bootstrap(settings, clock=clock, engine=engine)
    async with running_bot(settings, runtime, standin) as running:
        yield running
