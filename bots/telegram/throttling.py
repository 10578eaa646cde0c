"""Per-user inbound throttling: a person (or a script) flooding the bot is slowed down.

Each Telegram user gets a budget of updates (a burst, then a steady rate) under the same GCRA
cells as the outbound limiter, in Redis when configured so all workers share it. Updates
over the budget are dropped before they reach the database; the user is told to slow down
at most once per `warn_every_seconds`, in their Telegram language (the account may not even
be looked up yet, and looking it up is what we are saving).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject, Update, User

from bots.i18n import gettext, normalize_locale
from bots.telegram.ratelimit import RateLimiter, Rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThrottleLimits:
    updates_per_second: float = 3.0
    burst: int = 10
    warn_every_seconds: float = 10.0


class ThrottlingMiddleware(BaseMiddleware):
    """Outer update middleware: over-budget updates stop here."""

    def __init__(self, limiter: RateLimiter, limits: ThrottleLimits | None = None) -> None:
        self.limiter = limiter
        self.limits = limits or ThrottleLimits()
        self.dropped = 0

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        bot: Bot | None = data.get("bot")
        if user is None or bot is None or not isinstance(event, Update):
            return await handler(event, data)
        rule = Rule.per_second(
            f"{bot.id}:user:{user.id}", self.limits.updates_per_second, self.limits.burst
        )
        if await self.limiter.try_acquire([rule]) <= 0:
            return await handler(event, data)
        self.dropped += 1
        log.info("throttled update %s from user %s", event.update_id, user.id)
        warn = Rule(f"{bot.id}:user:{user.id}:warned", self.limits.warn_every_seconds, 1)
        if await self.limiter.try_acquire([warn]) <= 0:
            await _tell_to_slow_down(event, normalize_locale(user.language_code))
        return None


async def _tell_to_slow_down(update: Update, locale: str) -> None:
    text = gettext("tg.throttled", locale)
    if update.callback_query is not None:
        await update.callback_query.answer(text)
    elif update.message is not None:
        await update.message.answer(text)
