"""Long polling: for development and small installs without a public HTTPS address.

Telegram refuses getUpdates while a webhook is set, so polling starts by removing it
(keeping pending updates). It asks only for the update types the routers handle, hands
every update to the same `UpdateFeeder` as the webhook (one conversation in order), and
confirms an update (the next offset) once it is handed over; a copy fetched again after a
restart is dropped by the deduplication middleware. Network trouble and server errors are
retried with a growing pause. The caller stops polling by cancelling the task; updates
already handed over are finished first.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

from bots.telegram.feeder import UpdateFeeder

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


async def run_polling(
    dispatcher: Dispatcher,
    bot: Bot,
    *,
    polling_timeout: int = 30,
    max_concurrent_updates: int = 100,
) -> None:
    """Poll until cancelled."""
    feeder = UpdateFeeder(dispatcher, bot, max_concurrent_updates=max_concurrent_updates)
    await bot.delete_webhook(drop_pending_updates=False)
    allowed = dispatcher.resolve_used_update_types()
    offset: int | None = None
    failures = 0
    try:
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset,
                    timeout=polling_timeout,
                    allowed_updates=allowed,
                    request_timeout=polling_timeout + 10,
                )
            except TelegramRetryAfter as error:
                await asyncio.sleep(error.retry_after)
                continue
            except (TelegramNetworkError, TelegramServerError) as error:
                failures += 1
                pause = min(MAX_BACKOFF_SECONDS, 0.5 * 2**failures)
                log.warning("getUpdates failed (%s); trying again in %.1f s", error, pause)
                await asyncio.sleep(pause)
                continue
            failures = 0
            for update in updates:
                feeder.submit(update)
                offset = update.update_id + 1
    finally:
        await feeder.drain()
