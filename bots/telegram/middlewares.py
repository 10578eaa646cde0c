"""Who is acting: the Yueban user behind each update, and the language to answer in.

`ActorMiddleware` runs on every update after deduplication and throttling. It resolves the
Telegram account to a user, with one read for a person already known (the core's
`GetUserByChannel`) and otherwise the core's `RegisterFromChannel` (get-or-create, so a
first contact registers the person, with their locale taken from Telegram's
`language_code`), and puts `actor` and `locale` into the handler data. Handlers then build
commands with `actor.user_id` and render in `locale`.

Resolutions are cached per process for `ttl_seconds` so a busy chat does not cost one
transaction per update just to learn who it is (nor one more for the time zone screens show
times in); a handler that changes the user's locale puts the changed actor back into
`ActorCache`; other workers, and changes made elsewhere (a time zone set by an operator),
are seen when the entry expires.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bots.i18n import normalize_locale
from core.identity.commands import GetUserByChannel, RegisterFromChannel
from core.messagebus import MessageBus

PLATFORM = "telegram"


@dataclass(frozen=True)
class Actor:
    """The Yueban user behind an update."""

    user_id: int
    locale: str
    display_name: str
    telegram_id: int
    timezone: str | None = None  # the profile's, as of the lookup (None: ask the core)


class ActorCache:
    """Telegram user id -> Actor, for a short while, bounded in size."""

    def __init__(
        self,
        ttl_seconds: float = 60.0,
        *,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[int, tuple[float, Actor]] = OrderedDict()

    def get(self, telegram_id: int) -> Actor | None:
        entry = self._entries.get(telegram_id)
        if entry is None:
            return None
        expires_at, actor = entry
        if expires_at <= self._clock():
            del self._entries[telegram_id]
            return None
        return actor

    def put(self, actor: Actor) -> None:
        self._entries.pop(actor.telegram_id, None)
        self._entries[actor.telegram_id] = (self._clock() + self._ttl, actor)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, telegram_id: int) -> None:
        self._entries.pop(telegram_id, None)


class ActorMiddleware(BaseMiddleware):
    """Outer update middleware: `data["actor"]` (or None) and `data["locale"]` for handlers."""

    def __init__(self, bus: MessageBus, cache: ActorCache) -> None:
        self.bus = bus
        self.cache = cache

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        telegram_user: User | None = data.get("event_from_user")
        # Set before asking the core, so even a refusal to register is answered in a language
        # the person reads.
        data["locale"] = normalize_locale(telegram_user.language_code if telegram_user else None)
        data["actor"] = None
        if telegram_user is not None and not telegram_user.is_bot:
            actor = self.cache.get(telegram_user.id)
            if actor is None:
                actor = await self._register(telegram_user)
                self.cache.put(actor)
            data["actor"] = actor
            data["locale"] = actor.locale
        return await handler(event, data)

    async def _register(self, telegram_user: User) -> Actor:
        account = {
            "platform": PLATFORM,
            "external_id": str(telegram_user.id),
            # A private chat's id is the user's id; replies and notices go there even when
            # the update came from a group.
            "chat_id": str(telegram_user.id),
        }
        # A returning person (nearly every lookup) is one read, with no write transaction.
        user = await self.bus.handle(GetUserByChannel(**account))
        if user is None:
            user = await self.bus.handle(RegisterFromChannel(
                **account,
                display_name=telegram_user.full_name,
                language_code=telegram_user.language_code,
            ))
        return Actor(user.id, user.locale, user.display_name, telegram_user.id, user.timezone)
