"""The HTTP face of the bot: `POST /telegram/webhook` and `GET /healthz` (aiohttp).

Telegram signs nothing; it sends the secret given to `setWebhook` in the
`X-Telegram-Bot-Api-Secret-Token` header, so a request without it, or with a wrong one,
is answered 401 and never reaches the dispatcher. A body that is not an Update is 400.
An accepted update is answered 200 at once (Telegram retries slow answers) and handed to
the `UpdateFeeder`, which keeps each conversation in order. Shutdown waits for the updates
in flight.

`/healthz` answers 200 `{"status": "ok"}` while the service is up and its `health_check`
(e.g. a database ping) passes, 503 otherwise, so a load balancer can route around it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bots.telegram.factory import fsm_read_scope
from bots.telegram.feeder import UpdateFeeder

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few kilobytes at most; a bigger body is not from Telegram.
MAX_BODY_BYTES = 1024 * 1024

HealthCheck = Callable[[], Awaitable[None]]


class WebhookEndpoint:
    """Verifies the secret, parses the update and hands it to the feeder in the background."""

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
        self.bot = bot
        self.feeder = UpdateFeeder(dispatcher, bot, max_concurrent_updates=max_concurrent_updates)
        self._secret = secret.encode()
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
            update = Update.model_validate_json(body, context={"bot": self.bot})
        except (ValueError, ValidationError) as error:
            log.warning("webhook refused a body that is not an update: %s", error)
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        self.accepted += 1
        with fsm_read_scope():  # the update's task reads its FSM state and data once
            self.feeder.submit(update)
        return web.json_response({"ok": True})

    async def drain(self) -> None:
        """Wait for every update in flight (at shutdown)."""
        await self.feeder.drain()

    @property
    def in_flight(self) -> int:
        return self.feeder.in_flight


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
