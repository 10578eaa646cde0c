"""Shared pieces for the WeChat adapter tests: the stand-in, served webhooks, Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import fakeredis
import pytest
from redis.asyncio import Redis

from bots.wechat.standin import LocalServer, WeChatStandIn
from bots.wechat.webhook import InboundMessage, WeChatWebhook

TOKEN = "yuebanwebhooktoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 chars: base64 of 32 bytes


class Recorder:
    """The webhook's on_message callback, remembering what it was given."""

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.received: list[InboundMessage] = []
        self.delay = delay_seconds
        self._changed = asyncio.Event()

    async def __call__(self, inbound: InboundMessage) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received.append(inbound)
        self._changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(2.0):
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def standin() -> AsyncIterator[WeChatStandIn]:
    async with WeChatStandIn() as server:
        yield server


ServeWebhook = Callable[..., Awaitable[tuple[WeChatWebhook, str]]]


@pytest.fixture
async def serve_webhook(standin: WeChatStandIn) -> AsyncIterator[ServeWebhook]:
    """Start a webhook for the stand-in's account on 127.0.0.1; returns (webhook, url)."""
    servers: list[LocalServer] = []

    async def serve(*, encoding_aes_key: str | None = None, **options: Any
                    ) -> tuple[WeChatWebhook, str]:
        options.setdefault("on_message", Recorder())
        webhook = WeChatWebhook(token=TOKEN, app_id=standin.app_id,
                                encoding_aes_key=encoding_aes_key, **options)
        server = LocalServer(webhook.make_app())
        await server.start()
        servers.append(server)
        return webhook, server.base_url + "wechat"

    yield serve
    for server in servers:
        await server.stop()


async def _open_redis(kind: str) -> Redis:
    if kind == "fakeredis":
        return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    url = os.environ.get("YUEBAN_TEST_REDIS_URL")
    if not url:
        pytest.skip("YUEBAN_TEST_REDIS_URL not set")
    return Redis.from_url(url)


async def _close_redis(client: Redis, key_prefix: str) -> None:
    # Tests write only under their own prefix; on a real Redis, leave nothing behind.
    keys = [key async for key in client.scan_iter(match=f"{key_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["fakeredis", "redis"])
async def redis(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[Redis]:
    """A fresh fakeredis, and the real Redis at YUEBAN_TEST_REDIS_URL when it is set."""
    client = await _open_redis(request.param)
    yield client
    await _close_redis(client, key_prefix)


@pytest.fixture(params=["memory", "fakeredis", "redis"])
async def backend(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[Redis | None]:
    """None for the in-process implementation, else a Redis as in the `redis` fixture."""
    if request.param == "memory":
        yield None
        return
    client = await _open_redis(request.param)
    yield client
    await _close_redis(client, key_prefix)


@pytest.fixture
def key_prefix() -> str:
    """A per-test key prefix, so tests sharing a real Redis never see each other's keys."""
    return f"yueban-test:{uuid.uuid4().hex}"
