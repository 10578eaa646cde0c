"""Per-user inbound throttling: a person (or a script) flooding the bot is slowed down.

Each Telegram user gets a budget of updates (a burst, then a steady rate) under the same GCRA
cells as the outbound limiter, in Redis when configured so all workers share it. Updates
over the budget are dropped before they reach the database; the user is told to slow down
at most once per `warn_every_seconds`, in their Telegram language (the account may not even
be looked up yet, and looking it up is what we are saving). With Redis for both, the
update's deduplication claim and its throttle cell are one script, one round trip.
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

# Handler data key: the seconds to wait that deduplication learnt while claiming the update
# (see `DeduplicationMiddleware`), so the throttle needs no round trip of its own.
THROTTLE_WAIT = "throttle_wait"


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

    def rule_for(self, bot_id: int, user_id: int) -> Rule:
        return Rule.per_second(
            f"{bot_id}:user:{user_id}", self.limits.updates_per_second, self.limits.burst
        )

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
        # Deduplication may have taken the cell already, in the same round trip as its claim.
        wait = data.pop(THROTTLE_WAIT, None)
        if wait is None:
            wait = await self.limiter.try_acquire([self.rule_for(bot.id, user.id)])
        if wait <= 0:
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
