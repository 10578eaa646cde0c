"""The HTTP face of the bot: `POST /telegram/webhook` and `GET /healthz` (aiohttp).

Telegram signs nothing; it sends the secret given to `setWebhook` in the
`X-Telegram-Bot-Api-Secret-Token` header, so a request without it, or with a wrong one,
is answered 401 and never reaches the dispatcher. A body that is not an Update is 400.
An accepted update is answered 200 at once (Telegram retries slow answers) and processed in
a tracked task, at most `max_concurrent_updates` at a time. One conversation's updates are
processed one after another in the order they came, so a quick second tap never overtakes
the first and replies keep their order; different conversations run side by side.
Shutdown waits for the updates in flight.

`/healthz` answers 200 `{"status": "ok"}` while the service is up and its `health_check`
(e.g. a database ping) passes, 503 otherwise, so a load balancer can route around it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few kilobytes at most; a bigger body is not from Telegram.
MAX_BODY_BYTES = 1024 * 1024

HealthCheck = Callable[[], Awaitable[None]]


class WebhookEndpoint:
    """Verifies the secret, parses the update and feeds it to the dispatcher in the background."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        secret: str,
        *,
        max_concurrent_updates: int = 100,
    ) -> None:
        if not secret:
            raise ValueError("the webhook needs a secret token")
        self.dispatcher = dispatcher
        self.bot = bot
        self._secret = secret.encode()
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._tasks: set[asyncio.Task[Any]] = set()
        # The last task of each conversation; the next update of that conversation waits for it.
        self._tails: dict[int, asyncio.Task[Any]] = {}
        self.accepted = 0
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            self.refused += 1
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        try:
            body = await request.read()
            if len(body) > MAX_BODY_BYTES:
                raise ValueError("body too large")
            update = Update.model_validate(json.loads(body), context={"bot": self.bot})
        except (ValueError, ValidationError) as error:
            log.warning("webhook refused a body that is not an update: %s", error)
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        self.accepted += 1
        conversation = conversation_of(update)
        previous = self._tails.get(conversation) if conversation is not None else None
        task = asyncio.create_task(self._process(update, previous))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if conversation is not None:
            self._tails[conversation] = task
            task.add_done_callback(lambda done: self._forget(conversation, done))
        return web.json_response({"ok": True})

    def _forget(self, conversation: int, task: asyncio.Task[Any]) -> None:
        if self._tails.get(conversation) is task:
            del self._tails[conversation]

    async def _process(self, update: Update, previous: asyncio.Task[Any] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        async with self._slots:
            try:
                await self.dispatcher.feed_update(self.bot, update)
            except Exception:
                # The error boundary already answered the person; this is the log of last
                # resort for an update that failed outside it.
                log.exception("update %s failed", update.update_id)

    async def drain(self) -> None:
        """Wait for every update in flight (at shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)


def conversation_of(update: Update) -> int | None:
    """The chat an update belongs to (or its sender), to keep one conversation in order."""
    context = UserContextMiddleware.resolve_event_context(update)
    if context.chat is not None:
        return context.chat.id
    if context.user is not None:
        return context.user.id
    return None


def health_app(health_check: HealthCheck | None = None) -> web.Application:
    """An application serving only `/healthz` (long-polling mode)."""
    app = web.Application()
    app.router.add_get(HEALTH_PATH, _health_handler(health_check))
    return app


def webhook_app(endpoint: WebhookEndpoint, health_check: HealthCheck | None = None) -> web.Application:
    """`POST /telegram/webhook` and `GET /healthz`; shutdown drains updates in flight."""
    app = health_app(health_check)
    app.router.add_post(WEBHOOK_PATH, endpoint.handle)

    async def drain(_: web.Application) -> None:
        await endpoint.drain()

    app.on_shutdown.append(drain)
    return app


def _health_handler(health_check: HealthCheck | None) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def healthz(_: web.Request) -> web.Response:
        if health_check is not None:
            try:
                await health_check()
            except Exception as error:
                log.warning("health check failed: %s", error)
                return web.json_response(
                    {"status": "unavailable", "reason": type(error).__name__}, status=503
                )
        return web.json_response({"status": "ok"})

    return healthz
