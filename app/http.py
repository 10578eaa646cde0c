"""`yueban run` when WeChat is enabled: every chat channel on one HTTP server and one relay.

Telegram and WeChat both listen on `YUEBAN_HTTP_HOST:YUEBAN_HTTP_PORT`, so with both
enabled they share one aiohttp application: the Telegram service serves it (webhook or
long polling, `/healthz`) and WeChat mounts `/wechat` and `/pay/wechat/notify` on it. They
also share one notice relay (Telegram's, with the WeChat messenger registered in it): a
relay plans deliveries only for the platforms it serves, so two relays would each mark
events dispatched and leave the other platform's notices unplanned. Order chats cross
between them: each channel's relay courier is given the other channel's carrier. With WeChat alone,
`app.wechat.serve_wechat` serves its own application and relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING

from app.bootstrap import Runtime, bootstrap
from app.scheduler import sweeping
from app.settings import Settings
from app.wechat import build_wechat, check_wechat_settings, serve_wechat

if TYPE_CHECKING:
    from redis.asyncio import Redis


async def serve_channels(settings: Settings, runtime: Runtime, stop: asyncio.Event, *,
                         redis: Redis | None = None, redis_namespace: str = "yueban") -> None:
    """Serve WeChat, and Telegram when it is enabled too, until `stop` is set."""
    if not settings.telegram_enabled:
        await serve_wechat(build_wechat(settings, runtime, redis=redis,
                                        redis_namespace=redis_namespace), stop)
        return
    from app.telegram import build_telegram, serve_telegram
    from bots.telegram.handlers.relay import TelegramCarrier, TelegramMedia

    telegram = build_telegram(settings, runtime, redis=redis, redis_namespace=redis_namespace)
    # Order chats cross platforms: each channel's courier gets the other's carrier.
    wechat = build_wechat(
        settings, runtime, redis=redis, redis_namespace=redis_namespace, relay=telegram.relay,
        relay_carriers={"telegram": TelegramCarrier(
            telegram.bot,
            protect_content=bool(telegram.dispatcher.workflow_data.get("relay_protect_content")),
        )},
        relay_media={"telegram": TelegramMedia(telegram.bot)},
    )
    telegram.dispatcher["relay_carriers"] = {"wechat": wechat.relay_carrier}
    menu = asyncio.create_task(wechat.install_menu(), name="wechat-menu")
    try:
        await serve_telegram(telegram, stop, mounts=[wechat.mount])
    finally:
        await menu
        wechat.close()


async def run_channels(settings: Settings) -> None:
    """`yueban run` with WeChat enabled: wire everything, serve until SIGINT/SIGTERM."""
    check_wechat_settings(settings)
    runtime = bootstrap(settings)
    redis = _redis(settings.redis_url) if settings.redis_url else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        async with sweeping(runtime):
            await serve_channels(settings, runtime, stop, redis=redis)
    finally:
        if redis is not None:
            await redis.aclose()
        await runtime.close()


def _redis(url: str) -> Redis:
    from redis.asyncio import Redis

    return Redis.from_url(url)
