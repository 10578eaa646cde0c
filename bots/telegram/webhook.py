"""The HTTP face of the bot: `POST /telegram/webhook` and `GET /healthz` (aiohttp).

Telegram signs nothing; it sends the secret given to `setWebhook` in the
`X-Telegram-Bot-Api-Secret-Token` header, so a request without it, or with a wrong one,
is answered 401 and never reaches the dispatcher. A body that is not an Update is 400.
An accepted update is handed to the `UpdateFeeder`, which keeps each conversation in order.
A message (any update but a button tap) is answered 200 at once. A tap's response waits,
at most `CALLBACK_REPLY_WITHIN`, for its handler to answer the tap: that answer goes back
in the response as the method for Telegram to execute (see `bots.telegram.reply`),
saving the bot a call; a handler that finishes without answering, or answers later, gets
the plain 200 and its answer, if any, goes over HTTP. Shutdown waits for the updates in
flight.

`/healthz` answers 200 `{"status": "ok"}` while the service is up and its `health_check`
(e.g. a database ping) passes, 503 otherwise, so a load balancer can route around it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bots.telegram.factory import fsm_read_scope
from bots.telegram.feeder import UpdateFeeder
from bots.telegram.reply import WebhookReply, enable_webhook_replies

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few kilobytes at most; a bigger body is not from Telegram.
MAX_BODY_BYTES = 1024 * 1024
# How long a tap's response waits for its answer. Telegram sends a chat's next update only
# once this response has arrived, so a handler slower than this holds up the person's next
# message by this much at most; handlers answer within tens of milliseconds, and the bound
# leaves room for a slow moment of the database. Past it the answer goes over HTTP.
CALLBACK_REPLY_WITHIN = 1.5

HealthCheck = Callable[[], Awaitable[None]]


class WebhookEndpoint:
    """Verifies the secret, parses the update and hands it to the feeder in the background;
    a tap's answer may ride back in the response."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        secret: str,
        *,
        max_concurrent_updates: int = 100,
        reply_within: float = CALLBACK_REPLY_WITHIN,
    ) -> None:
        if not secret:
            raise ValueError("the webhook needs a secret token")
        self.bot = bot
        self.feeder = UpdateFeeder(dispatcher, bot, max_concurrent_updates=max_concurrent_updates)
        self.reply_within = reply_within
        self.replies = enable_webhook_replies(bot)
        self._secret = secret.encode()
        self._sends: set[asyncio.Task[bool]] = set()
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
        query = update.callback_query
        if query is None:
            with fsm_read_scope():  # the update's task reads its FSM state and data once
                self.feeder.submit(update)
            return web.json_response({"ok": True})
        reply = WebhookReply(self.bot, query.id)
        with fsm_read_scope(), reply.scope():
            handling = self.feeder.submit(update)
        try:
            await asyncio.wait((handling, reply.taken), timeout=self.reply_within,
                               return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._answer_over_http(reply)
            raise
        payload = reply.close()  # from here on the handler's answer goes over HTTP
        if payload is None:
            return web.json_response({"ok": True})
        return web.json_response(payload)

    def _answer_over_http(self, reply: WebhookReply) -> None:
        """The response will not go out (the request was cancelled): an answer already taken
        into it is sent as a call instead, so the person still sees it."""
        reply.close()
        if reply.method is not None:
            sending = asyncio.create_task(self.bot(reply.method))
            self._sends.add(sending)
            sending.add_done_callback(self._sent)

    def _sent(self, sending: asyncio.Task[bool]) -> None:
        self._sends.discard(sending)
        if not sending.cancelled() and sending.exception() is not None:
            log.warning("could not answer a tap over HTTP: %s", sending.exception())

    async def drain(self) -> None:
        """Wait for every update in flight (at shutdown)."""
        await self.feeder.drain()
        while self._sends:
            await asyncio.gather(*list(self._sends), return_exceptions=True)

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
