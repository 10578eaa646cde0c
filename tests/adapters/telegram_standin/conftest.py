"""Fixtures: a running Bot API stand-in, a real aiogram Bot pointed at it, and helpers to
run an aiogram Dispatcher by long polling or behind aiogram's own aiohttp webhook handler."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bots.telegram.standin import BotApiStandIn, RateLimits


class PromptSession(AiohttpSession):
    """aiogram's session minus the 250 ms pause its close() makes for TLS sockets;
    everything here is plain HTTP on 127.0.0.1, and the pause would dominate the suite."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(standin: BotApiStandIn, token: str | None = None) -> Bot:
    api = TelegramAPIServer.from_base(standin.base_url)
    return Bot(token or standin.token, session=PromptSession(api=api))


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn.running(rate_limits=RateLimits.off()) as running:
        yield running


@pytest.fixture
async def bot(standin: BotApiStandIn) -> AsyncIterator[Bot]:
    client = make_bot(standin)
    try:
        yield client
    finally:
        await client.session.close()


@contextlib.asynccontextmanager
async def polling(dispatcher: Dispatcher, bot: Bot, **options: Any) -> AsyncIterator[None]:
    """Run ``dispatcher`` by long polling for the duration of the block."""
    task = asyncio.create_task(dispatcher.start_polling(
        bot, handle_signals=False, close_bot_session=False, polling_timeout=5, **options))
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError):
            await dispatcher.stop_polling()
        await asyncio.wait_for(task, 5)


async def eventually(condition: Callable[[], bool], within: float = 3.0) -> None:
    """Wait until ``condition()`` holds; fail the test if it does not within ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def webhook_app(
    dispatcher: Dispatcher, bot: Bot, *, secret_token: str | None = None,
    handle_in_background: bool = True,
) -> AsyncIterator[str]:
    """Serve ``dispatcher`` with aiogram's aiohttp webhook handler on a second local port;
    yields the webhook URL."""
    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret_token,
                         handle_in_background=handle_in_background).register(
        app, path="/telegram/webhook")
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/telegram/webhook"
    finally:
        await runner.cleanup()
