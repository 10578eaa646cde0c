"""Running the Telegram bot from Settings: wiring, webhook or long polling, health, relay.

- `YUEBAN_TELEGRAM_TOKEN` and `YUEBAN_TELEGRAM_API_BASE` make the Bot (any Bot API server:
  Telegram, a self-hosted one, or the local stand-in).
- With `YUEBAN_TELEGRAM_WEBHOOK_URL` the bot registers that URL with the secret
  `YUEBAN_TELEGRAM_WEBHOOK_SECRET` and serves `POST /telegram/webhook` (and `/healthz`) on
  `YUEBAN_HTTP_HOST:YUEBAN_HTTP_PORT`; without it, it long-polls and serves `/healthz` there.
- With `YUEBAN_REDIS_URL`, FSM state, update deduplication, per-user throttling and the
  outbound rate limits live in Redis, shared by every worker; otherwise in this process.
- The notice relay runs alongside, woken by every commit of the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import sqlalchemy as sa
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiohttp import web

from app.bootstrap import Runtime, bootstrap
from app.notifications import GroupRoute, NotificationRelay
from app.process import tune_collector
from app.scheduler import sweeping
from app.settings import ConfigurationError, Settings
from bots.i18n import LOCALES
from bots.telegram.albums import RedisAlbums
from bots.telegram.dedup import InMemoryDeduplicator, RedisDeduplicator, UpdateDeduplicator
from bots.telegram.factory import UpdateScopedStorage, build_bot, build_dispatcher
from bots.telegram.handlers import menu_commands
from bots.telegram.handlers.operator import OperatorGroup, operator_cards
from bots.telegram.handlers.relay import sos_card
from bots.telegram.messenger import TelegramMessenger
from bots.telegram.payments import enable_telegram_payments
from bots.telegram.polling import run_polling
from bots.telegram.ratelimit import (
    InProcessRateLimiter,
    OutboundLimits,
    RateLimiter,
    RedisRateLimiter,
)
from bots.telegram.throttling import ThrottleLimits
from bots.telegram.webhook import WEBHOOK_PATH, WebhookEndpoint, health_app, webhook_app
from core.notices import NoticeRegistry
from core.relay.events import SosRaised

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# setWebhook's secret_token: 1-256 characters, only A-Z, a-z, 0-9, _ and -.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def check_telegram_settings(settings: Settings) -> None:
    """Refuse settings Telegram would refuse, naming the setting to fix."""
    if settings.telegram_token is None:
        raise ConfigurationError("YUEBAN_TELEGRAM_TOKEN is not set")
    if not _TOKEN.match(settings.telegram_token.get_secret_value()):
        raise ConfigurationError(
            "YUEBAN_TELEGRAM_TOKEN does not look like a bot token (123456789:AA…)"
        )
    api = urlparse(settings.telegram_api_base)
    if api.scheme not in {"http", "https"} or not api.netloc:
        raise ConfigurationError("YUEBAN_TELEGRAM_API_BASE must be an http(s) URL")
    if settings.telegram_webhook_url:
        url = urlparse(settings.telegram_webhook_url)
        if url.scheme not in {"http", "https"} or not url.netloc:
            raise ConfigurationError("YUEBAN_TELEGRAM_WEBHOOK_URL must be an http(s) URL")
        secret = settings.telegram_webhook_secret
        if secret is not None and not _WEBHOOK_SECRET.match(secret.get_secret_value()):
            raise ConfigurationError(
                "YUEBAN_TELEGRAM_WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - "
                "(1-256 characters)"
            )


@dataclass
class TelegramService:
    """Everything the running bot is made of (tests and the bench look inside)."""

    settings: Settings
    runtime: Runtime
    bot: Bot
    dispatcher: Dispatcher
    relay: NotificationRelay
    redis: Redis | None = None
    endpoint: WebhookEndpoint | None = None
    webhook_secret: str | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def health(self) -> None:
        """Raise when the service cannot do its work (the database does not answer)."""
        async with self.runtime.engine.connect() as connection:
            await connection.execute(sa.text("select 1"))
        if self.redis is not None:
            await self.redis.ping()


def build_telegram(
    settings: Settings,
    runtime: Runtime,
    *,
    redis: Redis | None = None,
    redis_namespace: str = "yueban",
) -> TelegramService:
    """The bot, its dispatcher and the notice relay; Redis keys start with `redis_namespace:`."""
    check_telegram_settings(settings)
    assert settings.telegram_token is not None
    if settings.log_level.upper() != "DEBUG":
        # aiogram logs a line at INFO for every update it handles; errors still show.
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    rate_prefix = f"{redis_namespace}:tg:rate:"
    limiter: RateLimiter = (
        RedisRateLimiter(redis, prefix=rate_prefix)
        if redis
        else InProcessRateLimiter()
    )
    deduplicator: UpdateDeduplicator = (
        # The claim takes the sender's throttle cell (the limiter's keys) in the same script.
        RedisDeduplicator(redis, prefix=f"{redis_namespace}:tg:update:",
                          throttle_prefix=rate_prefix)
        if redis
        else InMemoryDeduplicator()
    )
    storage: BaseStorage = (
        UpdateScopedStorage(RedisStorage(
            redis,
            key_builder=DefaultKeyBuilder(prefix=f"{redis_namespace}:fsm", with_bot_id=True),
        ))
        if redis
        else MemoryStorage()
    )
    bot = build_bot(
        settings.telegram_token.get_secret_value(),
        api_base=settings.telegram_api_base,
        limiter=limiter,
        limits=OutboundLimits(per_bot_per_second=settings.telegram_messages_per_second),
    )
    dispatcher = build_dispatcher(
        runtime.bus,
        storage=storage,
        deduplicator=deduplicator,
        limiter=limiter,
        throttle=ThrottleLimits(
            updates_per_second=settings.telegram_user_updates_per_second,
            burst=settings.telegram_user_updates_burst,
        ),
    )
    _enable_payments(settings, runtime, bot, dispatcher)
    dispatcher["relay_protect_content"] = settings.relay_protect_content
    if redis:
        # Workers share the bot: an album's parts may reach different processes.
        dispatcher["relay_albums"] = RedisAlbums(redis, prefix=f"{redis_namespace}:tg:album:{bot.id}:")
    relay = NotificationRelay(
        runtime.uow_factory,
        runtime.bus,
        {"telegram": TelegramMessenger(bot)},
        clock=runtime.clock,
        group_routes=_operator_group(settings, dispatcher),
    )
    runtime.bus.after_commit.append(relay.on_commit)
    service = TelegramService(settings, runtime, bot, dispatcher, relay, redis)
    if settings.telegram_webhook_url:
        given = settings.telegram_webhook_secret
        # Demo mode may run without a configured secret; Telegram still gets one.
        service.webhook_secret = given.get_secret_value() if given else secrets.token_urlsafe(32)
        service.endpoint = WebhookEndpoint(dispatcher, bot, service.webhook_secret)
    return service



def _enable_payments(settings: Settings, runtime: Runtime, bot: Bot, dispatcher: Dispatcher) -> None:
    """Telegram Stars (and card invoices with a provider token) join the wallet's gateways;
    the customer flows learn which methods to offer."""
    token = settings.telegram_payment_provider_token
    options, accounts = enable_telegram_payments(
        runtime.bus.dependencies["payment_gateways"], bot, runtime.bus,
        card_token=token.get_secret_value() if token else None,
    )
    dispatcher["payment_options"] = options
    dispatcher["telegram_accounts"] = accounts


def _operator_group(settings: Settings, dispatcher: Dispatcher) -> list[GroupRoute]:
    """With `YUEBAN_TELEGRAM_ADMIN_CHAT_ID`, operators' cards go to that group, and its
    decisions are written in the platform's default language and time zone."""
    if settings.telegram_admin_chat_id is None:
        return []
    group = OperatorGroup(
        str(settings.telegram_admin_chat_id), settings.default_locale, settings.default_timezone
    )
    dispatcher["operator_group"] = group
    cards = NoticeRegistry()
    cards.register(SosRaised, sos_card)  # an SOS reaches the operators at once
    cards.register_any(operator_cards)
    return [GroupRoute("telegram", group.chat_id, group.locale, group.timezone, cards)]


async def serve_telegram(
    service: TelegramService,
    stop: asyncio.Event,
    mounts: Sequence[Callable[[web.Application], None]] = (),
    *,
    announce: bool = True,
) -> None:
    """Serve until `stop` is set, then shut down in order: intake, updates, relay, session.

    `mounts` add other channels' routes (e.g. WeChat's) to the same application, so every
    channel is served on one host and port. With `YUEBAN_HTTP_WORKERS` above 1 every worker
    listens on that port too (SO_REUSEPORT); only the one that `announce`s registers the
    webhook and the command menu with Telegram.
    """
    settings = service.settings
    relay_stop = asyncio.Event()
    relay_task = asyncio.create_task(service.relay.run(relay_stop), name="notice-relay")
    polling_task: asyncio.Task[None] | None = None
    if service.endpoint is not None:
        app = webhook_app(service.endpoint, service.health)
    else:
        app = health_app(service.health)
    for mount in mounts:
        mount(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port,
                          reuse_port=settings.http_workers > 1).start()
        if announce:
            await _announce_commands(service.bot)
        if service.endpoint is not None:
            if announce:
                await _set_webhook(service)
            log.info("Telegram webhook; serving on %s:%s", settings.http_host, settings.http_port)
        else:
            polling_task = asyncio.create_task(
                run_polling(service.dispatcher, service.bot), name="telegram-polling"
            )
            log.info("Telegram long polling; /healthz on %s:%s", settings.http_host, settings.http_port)
        await _wait_for_stop(stop, polling_task)
    finally:
        if polling_task is not None and not polling_task.done():
            polling_task.cancel()  # it finishes the updates it already took
            with contextlib.suppress(asyncio.CancelledError):
                await polling_task
        await runner.cleanup()  # stops intake and drains webhook updates in flight
        relay_stop.set()
        await relay_task
        await service.bot.session.close()


async def _set_webhook(service: TelegramService) -> None:
    settings = service.settings
    assert settings.telegram_webhook_url is not None
    if not urlparse(settings.telegram_webhook_url).path.endswith(WEBHOOK_PATH):
        log.warning(
            "YUEBAN_TELEGRAM_WEBHOOK_URL does not end with %s; make sure the proxy "
            "forwards it there", WEBHOOK_PATH,
        )
    await service.bot.set_webhook(
        settings.telegram_webhook_url,
        secret_token=service.webhook_secret,
        allowed_updates=service.dispatcher.resolve_used_update_types(),
        drop_pending_updates=False,
    )


async def _wait_for_stop(stop: asyncio.Event, polling_task: asyncio.Task[None] | None) -> None:
    stopper = asyncio.ensure_future(stop.wait())
    waited: set[asyncio.Future[Any]] = {stopper}
    if polling_task is not None:
        waited.add(polling_task)
    try:
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if polling_task is not None and polling_task.done():
        polling_task.result()  # polling died: say why


async def _announce_commands(bot: Bot) -> None:
    """The command menu in each language (a failure here must not stop the bot)."""
    try:
        for locale in LOCALES:
            await bot.set_my_commands(menu_commands(locale), language_code=locale)
        await bot.set_my_commands(menu_commands("zh"))
    except Exception as error:
        log.warning("could not set the command menu: %s", error)


async def run_telegram(
    settings: Settings,
    *,
    announce: bool = True,
    mounts: Sequence[Callable[[web.Application], None]] = (),
) -> None:
    """`yueban run` for Telegram: wire everything, serve until SIGINT/SIGTERM (one worker's
    part of it with `YUEBAN_HTTP_WORKERS`; see `app.http.run_workers`)."""
    check_telegram_settings(settings)
    runtime = bootstrap(settings)
    redis = _redis(settings.redis_url) if settings.redis_url else None
    service = build_telegram(settings, runtime, redis=redis)
    tune_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        async with sweeping(runtime):
            await serve_telegram(service, stop, mounts, announce=announce)
    finally:
        if redis is not None:
            await redis.aclose()
        await runtime.close()


def _redis(url: str) -> Redis:
    from storage.redis_client import redis_client

    return redis_client(url)
