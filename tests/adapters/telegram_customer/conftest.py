"""The customer's bot over real HTTP against the stand-in, with a seeded catalog.

`shop` runs the production service (webhook mode) on the test's database (SQLite, and
PostgreSQL when configured); `redis_shop` the same with FSM state, dedup and limits in
Redis. Helpers add providers through the core (as an approved application would), and
read the chat the way a person does: find a message by what it says, tap a button by its
label.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from bots.telegram.ratelimit import OutboundRateLimitMiddleware
from bots.telegram.standin import BotApiStandIn, SimUser
from core.catalog.availability import AvailabilityPlan, WeeklyRule
from core.catalog.commands import (
    ApproveApplication,
    ListCategories,
    SeedCatalog,
    SetPresence,
    SubmitApplication,
)
from core.catalog.model import Category, GeoPoint, OfferDraft, ProfileDraft
from core.catalog.onboarding import Document, DocumentKind
from core.identity.commands import RegisterFromChannel
from core.shared.clock import FixedClock
from core.shared.money import Money
from tests.adapters.telegram.conftest import (  # noqa: F401  (fixtures)
    RunningBot,
    SettingsFactory,
    bot_settings,
    running_bot,
    standin,
)

# Plenty of room: a person tapping through a booking sends many updates in a second.
CARD_TOKEN = "284685063:TEST:card-provider-token"
FAST_HANDS = {"telegram_user_updates_per_second": 1000.0, "telegram_user_updates_burst": 1000}


@dataclass
class Shop:
    bot: RunningBot
    runtime: Runtime
    standin: BotApiStandIn
    clock: FixedClock
    categories: dict[str, Category]
    people: dict[int, SimUser] = dataclasses.field(default_factory=dict)

    def customer(self, name: str = "Ann", language_code: str = "en") -> SimUser:
        return self.standin.create_user(name, language_code=language_code)

    async def user_id(self, person: SimUser) -> int:
        async with self.runtime.uow_factory() as uow:
            user = await uow.users.get_by_channel("telegram", str(person.id))
        assert user is not None, "the person has not talked to the bot yet"
        return int(user.id)

    async def provider(
        self,
        name: str,
        slug: str = "league-of-legends",
        *,
        price: int = 6000,
        currency: str = "CNY",
        rules: tuple[str, ...] = ("mon 09:00-18:00",),
        online: bool = False,
        tags: frozenset[str] = frozenset({"rank:king"}),
        location: GeoPoint | None = None,
        radius_km: int | None = None,
        photos: tuple[str, ...] = (),
    ) -> tuple[int, int]:
        """An approved provider with one offer; returns (provider id, offer id). The provider
        is a person in the stand-in too (`shop.people[provider_id]`), so notices reach them."""
        person = self.standin.create_user(name, language_code="zh")
        user = await self.runtime.bus.handle(RegisterFromChannel(
            platform="telegram", external_id=str(person.id), chat_id=str(person.id),
            display_name=name, language_code="zh",
        ))
        self.people[int(user.id)] = person
        category = self.categories[slug]
        documents = (DocumentKind.ID_PHOTO, DocumentKind.CERTIFICATE)
        submitted = await self.runtime.bus.handle(SubmitApplication(
            actor_id=user.id, user_id=user.id,
            profile=ProfileDraft(display_name=name, bio=f"{name} bio", photos=photos, tags=tags,
                                 location=location, service_radius_km=radius_km),
            offers=(OfferDraft(category_id=category.id, unit_price=Money(price, currency),
                               min_units=max(1, category.min_units)),),
            availability=AvailabilityPlan(rules=tuple(WeeklyRule.parse(r) for r in rules)),
            documents=tuple(Document(kind, f"doc:{kind.value}") for kind in documents),
        ))
        await self.runtime.bus.handle(ApproveApplication(application_id=submitted.id))
        if online:
            await self.runtime.bus.handle(SetPresence(actor_id=user.id, provider_id=user.id,
                                                      presence="online"))
        async with self.runtime.uow_factory() as uow:
            [offer] = await uow.offers.for_provider(user.id)
        return int(user.id), int(offer.id)

    async def settle(self) -> None:
        await self.bot.settle()


@pytest.fixture
async def shop(
    bot_settings: SettingsFactory, engine: AsyncEngine, clock: FixedClock,  # noqa: F811
    standin: BotApiStandIn,  # noqa: F811
) -> AsyncIterator[Shop]:
    async with _shop(bot_settings, engine, clock, standin) as running:
        yield running


@pytest.fixture
async def card_shop(
    bot_settings: SettingsFactory, engine: AsyncEngine, clock: FixedClock,  # noqa: F811
    standin: BotApiStandIn,  # noqa: F811
) -> AsyncIterator[Shop]:
    """A shop with a payment provider token: card invoices in CNY are offered."""
    async with _shop(bot_settings, engine, clock, standin,
                     telegram_payment_provider_token=CARD_TOKEN) as running:
        yield running


@pytest.fixture
async def redis_shop(
    bot_settings: SettingsFactory, engine: AsyncEngine, clock: FixedClock,  # noqa: F811
    standin: BotApiStandIn, redis_url: str,  # noqa: F811
) -> AsyncIterator[Shop]:
    redis = Redis.from_url(redis_url)
    try:
        async with _shop(bot_settings, engine, clock, standin, redis=redis) as running:
            yield running
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def _shop(
    make: SettingsFactory, engine: AsyncEngine, clock: FixedClock, standin: BotApiStandIn,  # noqa: F811
    *, redis: Any = None, **changes: Any,
) -> AsyncIterator[Shop]:
    settings = make(**FAST_HANDS, **changes)
    runtime = bootstrap(settings, clock=clock, engine=engine)
    await runtime.bus.handle(SeedCatalog())
    categories = {c.slug: c for c in await runtime.bus.handle(ListCategories())}
    async with running_bot(settings, runtime, standin, redis=redis) as bot:
        _quick_chats(bot)
        yield Shop(bot, runtime, standin, clock, categories)


def _quick_chats(bot: RunningBot) -> None:
    """These tests are about the flows, not Telegram's 1 message/s per chat (paced and
    tested in tests/adapters/telegram): let a chat's messages go out at once."""
    for middleware in bot.service.bot.session.middleware:
        if isinstance(middleware, OutboundRateLimitMiddleware):
            middleware.limits = dataclasses.replace(
                middleware.limits, per_chat_per_second=100.0, per_chat_burst=100
            )


# -- reading the chat ----------------------------------------------------------------------------


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def labels(message: dict[str, Any]) -> list[str]:
    return [b["text"] for b in buttons(message)]


async def find(
    person: SimUser, *parts: str, within: float = 5.0,
    where: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """The newest bot message (current version) containing every part, waiting for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        for message in reversed(person.bot_messages()):
            if all(p in text_of(message) for p in parts) and (where is None or where(message)):
                return message
        if loop.time() > deadline:
            shown = "\n---\n".join(text_of(m) for m in person.bot_messages()[-6:])
            raise AssertionError(f"no bot message with {parts!r}; the latest:\n{shown}")
        await asyncio.sleep(0.01)


async def press(person: SimUser, message: dict[str, Any], label: str) -> dict[str, Any]:
    """Tap the button whose label contains `label`; returns the callback answer."""
    matching = [b for b in buttons(message) if label in b["text"]]
    assert matching, f"no button {label!r} in {labels(message)}"
    tap = await person.tap(message, callback_data=matching[0]["callback_data"])
    return await tap.answer()


async def say(shop: Shop, person: SimUser, text: str) -> None:
    await person.send_text(text)
    await shop.settle()


async def book_first_free_hour(shop: Shop, person: SimUser, provider_id: int) -> dict[str, Any]:
    """Book Monday the 12th, 10:00 Shanghai, one unit; returns the payment menu."""
    await say(shop, person, f"/start p_{provider_id}")
    await press(person, await find(person, "Services:"), "Book")
    units = await find(person, "How many?")
    await press(person, units, next(label for label in labels(units) if label.startswith("1 ")))
    await press(person, await find(person, "Pick a day"), "12")
    await press(person, await find(person, "pick a start time"), "10:00")
    await press(person, await find(person, "Anything the provider should know?"), "Skip")
    await press(person, await find(person, "Please check your booking:"), "Confirm")
    return await find(person, "How would you like to pay?")
