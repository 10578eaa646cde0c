"""Fixtures for the provider and operator flows: the stand-in, the bot with an operators'
group, and the people who use it (an operator, a provider, a customer, a bystander).

The bot runs as in production (`app.telegram`, webhook mode) against the stand-in over HTTP;
what other areas' flows would have done first (seeding the catalog, granting the operator
role, a customer booking) is done through the bus, as the admin CLI or another chat would.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from app.bootstrap import Runtime
from app.settings import Settings
from app.telegram import build_telegram, serve_telegram
from bots.telegram.ratelimit import OutboundLimits, OutboundRateLimitMiddleware
from bots.telegram.standin import BotApiStandIn, SimGroup, SimUser
from core.booking.commands import (
    AcceptOrder,
    BookOrder,
    ConfirmOrder,
    FinishOrder,
    PayOrder,
    StartOrder,
)
from core.booking.model import Order
from core.booking.timers import sweep_due_orders
from core.catalog.availability import AvailabilityPlan, WeeklyRule
from core.catalog.commands import (
    ApproveApplication,
    GetProvider,
    ListCategories,
    SeedCatalog,
    SetPresence,
    SubmitApplication,
)
from core.catalog.model import Category, GeoPoint, OfferDraft, ProfileDraft
from core.catalog.onboarding import Document, DocumentKind
from core.identity.commands import GrantRole, RegisterFromChannel
from core.shared.clock import FixedClock
from core.shared.money import Money
from core.wallet.commands import SettleMatured
from tests.adapters.telegram.conftest import (  # noqa: F401  (fixtures used by this folder)
    RunningBot,
    SettingsFactory,
    _until_up,
    bot_settings,
    standin,
)

QUICK_LIMITS = OutboundLimits(per_chat_per_second=100, per_chat_burst=100,
                              per_group_per_minute=6000, per_group_burst=100)
SHANGHAI = GeoPoint(31.2304, 121.4737)
EVERY_DAY = tuple(f"{day} 00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


@dataclass
class Person:
    sim: SimUser
    user_id: int

    @property
    def id(self) -> int:
        return self.sim.id


@dataclass
class Cast:
    operator: Person
    provider: Person
    customer: Person
    bystander: Person
    group: SimGroup
    categories: dict[str, Category]


async def register(runtime: Runtime, sim: SimUser, *roles: str) -> Person:
    user = await runtime.bus.handle(RegisterFromChannel(
        platform="telegram", external_id=str(sim.id), chat_id=str(sim.id),
        display_name=sim.user["first_name"], language_code=sim.user.get("language_code"),
    ))
    for role in roles:
        await runtime.bus.handle(GrantRole(user_id=user.id, role=role))
    return Person(sim, int(user.id))


@pytest.fixture
async def cast(runtime: Runtime, standin: BotApiStandIn) -> Cast:  # noqa: F811
    await runtime.bus.handle(SeedCatalog())
    categories = {c.slug: c for c in await runtime.bus.handle(ListCategories())}
    olga = await register(runtime, standin.create_user("Olga", language_code="en"), "operator")
    pia = await register(runtime, standin.create_user("Pia", language_code="en"))
    carl = await register(runtime, standin.create_user("Carl", language_code="en"))
    bob = await register(runtime, standin.create_user("Bob", language_code="en"))
    group = standin.create_group("Yueban operators", [olga.sim, bob.sim], admins=[olga.sim])
    return Cast(olga, pia, carl, bob, group, categories)


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, runtime: Runtime, standin: BotApiStandIn, *,  # noqa: F811
    redis: Any = None, namespace: str | None = None,
) -> AsyncIterator[RunningBot]:
    """The production service until the block ends; Redis keys stay (a restart keeps them)."""
    service = build_telegram(settings, runtime, redis=redis,
                             redis_namespace=namespace or f"yueban-test-{uuid.uuid4().hex[:8]}")
    # These conversations take dozens of steps; at Telegram's own pace (1 message a second
    # per chat, 20 a minute per group) they would take minutes. That pace is tested in
    # tests/adapters/telegram/test_limits.py; here the bot keeps a quicker one.
    for index in range(len(service.bot.session.middleware)):
        middleware = service.bot.session.middleware[index]
        if isinstance(middleware, OutboundRateLimitMiddleware):
            middleware.limits = QUICK_LIMITS
    stop = asyncio.Event()
    task = asyncio.create_task(serve_telegram(service, stop))
    running = RunningBot(service, standin, runtime)
    try:
        await _until_up(running, task, webhook=True)
        yield running
    finally:
        stop.set()
        await task


@pytest.fixture
async def tg(
    bot_settings: SettingsFactory, runtime: Runtime, standin: BotApiStandIn, cast: Cast,  # noqa: F811
) -> AsyncIterator[RunningBot]:
    """Yueban's bot with the operators' group configured."""
    settings = bot_settings(**bot_options(cast))
    async with serving(settings, runtime, standin) as running:
        yield running


def bot_options(cast: Cast, **changes: Any) -> dict[str, Any]:
    """Settings of the bot under test: the operators' group, quick enough for many steps."""
    return {
        "telegram_admin_chat_id": cast.group.id, "default_locale": "en",
        "default_timezone": "Asia/Shanghai", "telegram_user_updates_per_second": 100.0,
        "telegram_user_updates_burst": 100, **changes,
    }


# -- things other flows do first -------------------------------------------------------------


async def approved_provider(
    runtime: Runtime, person: Person, category: Category, *, price: Money | None = None,
    location: GeoPoint | None = None, online: bool = True,
) -> int:
    """Make `person` an approved provider of `category`; returns the offer id."""
    local = category.kind.value in ("on_site", "errand")
    documents = [Document(DocumentKind.ID_PHOTO, "photo:id")]
    if category.kind.value in ("on_site", "venue_lesson"):
        documents.append(Document(DocumentKind.CERTIFICATE, "photo:cert"))
    per_km = Money(300, (price or Money(8000, "CNY")).currency) if category.pricing_unit.value == "base_per_km" else None
    application = await runtime.bus.handle(SubmitApplication(
        user_id=person.user_id, actor_id=person.user_id,
        profile=ProfileDraft(
            display_name=person.sim.user["first_name"], bio="hello",
            location=(location or SHANGHAI) if local else None,
            service_radius_km=10 if local else None,
        ),
        offers=(OfferDraft(category_id=category.id, unit_price=price or Money(8000, "CNY"),
                           min_units=category.min_units, per_km_price=per_km),),
        availability=AvailabilityPlan(rules=tuple(WeeklyRule.parse(r) for r in EVERY_DAY)),
        documents=tuple(documents),
    ))
    await runtime.bus.handle(ApproveApplication(application_id=application.id))
    if online:
        await runtime.bus.handle(SetPresence(provider_id=person.user_id, presence="online",
                                             actor_id=person.user_id))
    details = await runtime.bus.handle(GetProvider(provider_id=person.user_id))
    return int(details.offers[0].id)


async def booked_and_paid(
    runtime: Runtime, customer: Person, offer_id: int, clock: FixedClock, *,
    units: int = 1, start_in: timedelta = timedelta(hours=3), address: str | None = None,
    place: Any = None, method: str = "sandbox",
) -> Order:
    order: Order = await runtime.bus.handle(BookOrder(
        offer_id=offer_id, units=units, start=clock.now() + start_in, address=address,
        place=place, actor_id=customer.user_id,
    ))
    paid: Order = await runtime.bus.handle(PayOrder(
        order_id=order.id, method=method, payment_ref=f"test-{order.id}",
        actor_id=customer.user_id,
    ))
    return paid


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in messages]


def buttons(message: dict[str, Any]) -> list[str]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["text"] for row in keyboard for button in row]


async def message_with(person: SimUser, fragment: str, *, chat: Any = None,
                       within: float = 5.0) -> dict[str, Any]:
    """The bot's next message in the chat whose text contains `fragment`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise TimeoutError(f"no message containing {fragment!r}; got {texts(person.bot_messages(chat))}")
        message = await person.next_message(within=left, chat=chat)
        if fragment in (message.get("text") or message.get("caption") or ""):
            return message


async def served_order(
    runtime: Runtime, clock: FixedClock, customer: Person, provider: Person, offer_id: int, *,
    confirm: bool = True,
) -> Order:
    """An order booked, paid, accepted, served and (unless told) confirmed, through the bus."""
    order = await booked_and_paid(runtime, customer, offer_id, clock, start_in=timedelta(hours=2))
    await runtime.bus.handle(AcceptOrder(order_id=order.id, actor_id=provider.user_id))
    clock.advance(timedelta(hours=2))
    await runtime.bus.handle(StartOrder(order_id=order.id, actor_id=provider.user_id,
                                        photo="checkin-photo"))
    clock.advance(timedelta(hours=1))
    done: Order = await runtime.bus.handle(FinishOrder(order_id=order.id, actor_id=provider.user_id))
    if confirm:
        done = await runtime.bus.handle(ConfirmOrder(order_id=order.id, actor_id=customer.user_id))
    return done


async def settle(runtime: Runtime, clock: FixedClock) -> None:
    """Let the dispute window pass (the order settles into pending earnings), then the
    settlement period (they become available), with the sweeper's commands each time."""
    for wait in (timedelta(days=4), timedelta(days=8)):
        clock.advance(wait)
        await sweep_due_orders(runtime.bus, clock.now())
        await runtime.bus.handle(SettleMatured(now=clock.now()))
