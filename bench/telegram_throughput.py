"""Telegram throughput: webhook intake against a bare aiogram echo bot, and a paced broadcast.

1. Updates. Simulated people talk to (a) Yueban's bot as `yueban run` serves it (dedup,
   throttling, actor lookup, the bus, the database, the replies and the notices) through the
   local Bot API stand-in's webhook delivery (real HTTP, one conversation's updates in
   order, 40 connections), then (b) the same number of people send the same number of
   updates each to a bare aiogram echo bot (aiogram's own webhook handler, one
   `message.answer` per update). Both are driven alike: a person sends, waits until they
   see the answer, and sends the next; everyone at once. The clock runs from the first
   update to the last answer.

   Yueban's mix, seeded before the clock starts (the catalog; one provider for every four
   customers, approved, online and bookable every day, spread over the four game
   categories; the customers, registered):
   - browse (about 55%): every customer sends /browse, taps a category and a sub-category,
     pages through its provider list and opens a provider's card;
   - book (about 20%): every fourth customer books their own provider from the card: Book,
     how many hours, a day and a start time from the calendar, skip the notes, confirm, and
     pay with the demo sandbox (the order is then paid and waits for the provider);
   - accept (about 3%): the provider taps Accept on the order card the bot sent them;
   - chat (about 22%): customer and provider exchange four messages each through the relay.
   Printed per kind: updates sent and the mean and 95th percentile of the time until the
   person saw the answer (the edited or new message, the callback answered, the relayed
   copy on the other side). Also measured, deterministically: the bot's SQL statements,
   Redis commands and Bot API calls per update, and this process's CPU time per update
   (the stand-in and the simulated people run here too, for both bots alike).
   Telegram's flood limits are off for this part (in the stand-in, and the bot's own
   per-chat pacing) so both bots are measured, not Telegram.
   Before the clock starts, each bot serves a warm-up: for Yueban a fifth as many other
   customers (and their providers) go through the same mix, as on a server that has been up
   a while (its database connections open, the mix's statements prepared on them); for the
   echo bot as many people send one message each. The people measured are new to both.
   `--no-warm-up` measures cold processes.
   Both bots run under the collector `yueban run` sets (`app.process.tune_collector`), and
   each part starts with what came before it frozen, so neither pays for walking the
   other's objects: the echo part, run second, used to spend nearly half its CPU on full
   collections over everything Yueban's part had left in the stand-in.
2. Broadcast. 3,000 messages to 3,000 people through `TelegramMessenger` (64 sends at a
   time, as the notice relay does) against a stand-in in its own process (a server does
   not pause when the sender does) that enforces 300 messages/s for the bot, with Yueban's
   outbound limiter set to the same 300/s (in Redis with `--redis-url`). Reported: achieved
   rate over the limit (target >= 0.9), 429s seen, and messages lost (must be 0).

    python bench/telegram_throughput.py [--quick] [--users N] [--database-url URL]
        [--redis-url URL] [--no-broadcast] [--no-warm-up]

The database is a fresh SQLite file unless `--database-url` names a PostgreSQL server, on
which a throw-away database is created and dropped. `--quick`: 200 customers and 50
providers (about 1,800 updates). The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import random
import socket
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import emit, forget_redis, say, scratch_database, summary, use_repository_root

use_repository_root()

import aiohttp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import Message  # noqa: E402
from aiogram.webhook.aiohttp_server import SimpleRequestHandler  # noqa: E402
from aiohttp import web  # noqa: E402

from app.bootstrap import Runtime, bootstrap  # noqa: E402
from app.process import tune_collector  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.telegram import build_telegram, serve_telegram  # noqa: E402
from bots.telegram.factory import build_bot  # noqa: E402
from bots.telegram.messenger import TelegramMessenger  # noqa: E402
from bots.telegram.ratelimit import (  # noqa: E402
    InProcessRateLimiter,
    OutboundLimits,
    OutboundRateLimitMiddleware,
    RedisRateLimiter,
)
from bots.telegram.standin import BotApiStandIn, BotWorld, ChatEvent, RateLimits, SimUser  # noqa: E402
from core.catalog.availability import AvailabilityPlan, WeeklyRule  # noqa: E402
from core.catalog.commands import (  # noqa: E402
    ApproveApplication,
    ListCategories,
    SeedCatalog,
    SetPresence,
    SubmitApplication,
)
from core.catalog.model import OfferDraft, ProfileDraft  # noqa: E402
from core.catalog.onboarding import Document, DocumentKind  # noqa: E402
from core.identity.commands import RegisterFromChannel  # noqa: E402
from core.ports import ChannelAddress  # noqa: E402
from core.shared.messages import Notice  # noqa: E402
from core.shared.money import Money  # noqa: E402

SCRIPT = str(Path(__file__).resolve())
SECRET = "bench-webhook-secret"
ECHO_TOKEN = "7000000002:bench-echo-bot"
BROADCAST_TOKEN = "7000000003:bench-broadcast-bot"
BROADCAST_MESSAGES = 3_000
BROADCAST_LIMIT = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Chats:
    """Follows every chat of a stand-in world in one task, so thousands of waiting people cost
    one pass over each new event, not one pass each."""

    def __init__(self, world: BotWorld) -> None:
        self.world = world
        self.events: dict[int, list[ChatEvent]] = defaultdict(list)
        self._waiters: dict[int, list[tuple[int, Check, asyncio.Future[ChatEvent]]]] = defaultdict(list)
        self._seen = len(world.events)
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> Chats:
        self._task = asyncio.create_task(self._follow())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def position(self, chat_id: int) -> int:
        return len(self.events[chat_id])

    async def until(self, chat_id: int, after: int, check: Check, within: float = 60.0) -> ChatEvent:
        """The first event of the chat after `after` that `check` accepts."""
        found = self._first(chat_id, after, check)
        if found is not None:
            return found
        waiter: asyncio.Future[ChatEvent] = asyncio.get_running_loop().create_future()
        entry = (after, check, waiter)
        self._waiters[chat_id].append(entry)
        try:
            async with asyncio.timeout(within):
                return await waiter
        finally:
            if entry in self._waiters[chat_id]:
                self._waiters[chat_id].remove(entry)

    def _first(self, chat_id: int, after: int, check: Check) -> ChatEvent | None:
        for event in self.events[chat_id][after:]:
            if check(event):
                return event
        return None

    async def _follow(self) -> None:
        while True:
            await self.world.events_changed.wait(None)
            fresh = self.world.events[self._seen:]
            self._seen += len(fresh)
            touched = set()
            for event in fresh:
                self.events[event.chat_id].append(event)
                touched.add(event.chat_id)
            for chat_id in touched:
                for after, check, waiter in list(self._waiters.get(chat_id, ())):
                    found = self._first(chat_id, after, check)
                    if found is not None and not waiter.done():
                        waiter.set_result(found)


Check = Callable[[ChatEvent], bool]


def from_bot(event: ChatEvent) -> bool:
    return event.kind in ("message", "edited") and bool(event.data.get("from_bot"))


def button_data(event: ChatEvent) -> list[str]:
    return button_data_of(event.data["message"])


def button_data_of(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


def has_button(match: Callable[[str], bool]) -> Check:
    """A message (new or edited) from the bot with a button whose callback data matches."""
    return lambda event: from_bot(event) and any(match(data) for data in button_data(event))


def says(fragment: str) -> Check:
    return lambda event: from_bot(event) and fragment in str(
        event.data["message"].get("text") or event.data["message"].get("caption") or "")


def anything(event: ChatEvent) -> bool:
    return from_bot(event)


class Person:
    """One simulated person's side of the run: what they sent, and how long each answer took."""

    def __init__(self, bench: Bench, sim: SimUser) -> None:
        self.bench = bench
        self.sim = sim
        self.sent = 0

    async def send(self, kind: str, text: str, expect: Check, *, seen_in: int | None = None,
                   reply_to: dict[str, Any] | None = None) -> ChatEvent:
        """Send `text`, wait until the chat `seen_in` (ours by default) shows what `expect` wants."""
        chat = seen_in if seen_in is not None else self.sim.id
        after = self.bench.chats.position(chat)
        started = time.perf_counter()
        await self.sim.send_text(text, reply_to=reply_to)
        self.sent += 1
        self.bench.sent[kind] += 1
        return await self.bench.answered(kind, started, chat, after, expect)

    async def tap(self, kind: str, pick: Callable[[str], bool], expect: Check | None = None
                  ) -> ChatEvent | None:
        """Tap the newest button whose callback data `pick` accepts; wait for its answer and,
        with `expect`, for the message it shows."""
        message, data = self.button(pick)
        after = self.bench.chats.position(self.sim.id)
        started = time.perf_counter()
        tap = await self.sim.tap(message, callback_data=data)
        self.sent += 1
        self.bench.sent[kind] += 1
        await tap.answer(within=60.0)
        if expect is None:
            self.bench.latencies[kind].append((time.perf_counter() - started) * 1000)
            return None
        return await self.bench.answered(kind, started, self.sim.id, after, expect)

    async def wait_for(self, expect: Check) -> ChatEvent:
        """Something the bot says in our chat, from the start of the run."""
        return await self.bench.chats.until(self.sim.id, 0, expect)

    def shows(self, data: str) -> bool:
        """Whether the newest message with buttons has a button `data`."""
        state = self.bench.world.chat_state(self.sim.id)
        for message_id in sorted(state.messages, reverse=True):
            stored = state.messages[message_id]
            markup = stored.message.get("reply_markup") or {}
            if stored.from_bot and not stored.deleted and markup.get("inline_keyboard"):
                return any(button.get("callback_data") == data
                           for row in markup["inline_keyboard"] for button in row)
        return False

    def button(self, pick: Callable[[str], bool]) -> tuple[int, str]:
        state = self.bench.world.chat_state(self.sim.id)
        for message_id in sorted(state.messages, reverse=True):
            stored = state.messages[message_id]
            if not stored.from_bot or stored.deleted:
                continue
            markup = stored.message.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if pick(button.get("callback_data", "")):
                        return message_id, button["callback_data"]
        newest = max(state.messages) if state.messages else 0
        shown = state.messages[newest].message if newest else {}
        raise LookupError(f"{self.sim!r} sees no such button; the newest message: "
                          f"{str(shown.get('text'))[:80]!r} {button_data_of(shown)}")


@dataclass
class Bench:
    """The run's shared state: the chats being followed and what was measured."""

    world: BotWorld
    chats: Chats
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: list[str] = field(default_factory=list)

    async def answered(self, kind: str, started: float, chat: int, after: int,
                       expect: Check) -> ChatEvent:
        event = await self.chats.until(chat, after, expect)
        self.latencies[kind].append((time.perf_counter() - started) * 1000)
        return event


# -- (a) the bare echo bot ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def echo_bot(standin: BotApiStandIn) -> AsyncIterator[BotWorld]:
    world = standin.add_bot(ECHO_TOKEN, username="echo_bench_bot", first_name="Echo")
    bot = Bot(ECHO_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url)))
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=SECRET).register(app, path="/webhook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await bot.set_webhook(f"http://127.0.0.1:{port}/webhook", secret_token=SECRET)
    try:
        yield world
    finally:
        await runner.cleanup()
        await bot.session.close()


# -- (b) Yueban's bot ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def yueban_bot(
    standin: BotApiStandIn, database_url: str, redis_url: str | None
) -> AsyncIterator[tuple[BotWorld, Any]]:
    port = free_port()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mode="demo",
        database_url=database_url,
        redis_url=redis_url,
        telegram_token=standin.token,
        telegram_api_base=standin.base_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
        telegram_webhook_secret=SECRET,
        http_port=port,
        # Measured here is the bot, not Telegram's flood control (off in the stand-in too).
        telegram_messages_per_second=1_000_000,
        telegram_user_updates_per_second=1_000,
        telegram_user_updates_burst=1_000,
    )
    runtime = bootstrap(settings)
    redis = None
    if redis_url:
        from storage.redis_client import redis_client

        redis = redis_client(redis_url)
    namespace = f"yueban-bench-{uuid.uuid4().hex[:8]}"
    service = build_telegram(settings, runtime, redis=redis, redis_namespace=namespace)
    # Nor Telegram's one message a second per chat: a booking's notices and a chat's copies
    # would otherwise wait for it, and the run would measure the pacing.
    for middleware in service.bot.session.middleware:
        if isinstance(middleware, OutboundRateLimitMiddleware):
            middleware.limits = dataclasses.replace(
                middleware.limits, per_chat_per_second=1_000.0, per_chat_burst=1_000
            )
    stop = asyncio.Event()
    task = asyncio.create_task(serve_telegram(service, stop))
    try:
        while standin.bot.webhook is None:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield standin.bot, service
    finally:
        stop.set()
        await task
        if redis is not None:
            await forget_redis(redis, namespace)
        await runtime.close()


# -- the mix -------------------------------------------------------------------------------------

GAMES = "games"
GAME_SLUGS = ("honor-of-kings", "pubg-mobile", "league-of-legends", "genshin-impact")
EVERY_DAY = tuple(f"{day} 00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
CHAT_ROUNDS = 4  # a customer's message and the provider's answer, four times per order


@dataclass
class Seeded:
    games: int
    subcategory: dict[int, int]  # provider id -> its sub-category's id
    providers: list[tuple[int, SimUser]]  # (provider id, the person)
    customers: list[SimUser]


def eq(value: str) -> Callable[[str], bool]:
    return lambda data: data == value


def startswith(prefix: str) -> Callable[[str], bool]:
    return lambda data: data.startswith(prefix)


async def seed(runtime: Runtime, standin: BotApiStandIn, users: int, who: str = "") -> Seeded:
    """The catalog, one provider for every four customers (approved, online, bookable any
    day), spread over the four game categories, and the customers themselves, registered."""
    await runtime.bus.handle(SeedCatalog())
    categories = {c.slug: c for c in await runtime.bus.handle(ListCategories())}
    bookers = max(1, users // 4)
    providers: list[tuple[int, SimUser]] = []
    subcategory: dict[int, int] = {}
    plan = AvailabilityPlan(rules=tuple(WeeklyRule.parse(rule) for rule in EVERY_DAY))
    for n in range(bookers):
        name = f"{who}Provider {n}"
        locale = "zh" if n % 2 else "en"
        sim = standin.create_user(name, language_code=locale)
        user = await runtime.bus.handle(RegisterFromChannel(
            platform="telegram", external_id=str(sim.id), chat_id=str(sim.id),
            display_name=name, language_code=locale,
        ))
        category = categories[GAME_SLUGS[n % len(GAME_SLUGS)]]
        submitted = await runtime.bus.handle(SubmitApplication(
            actor_id=user.id, user_id=user.id,
            profile=ProfileDraft(display_name=name, bio=f"{name}: patient, plays every day"),
            offers=(OfferDraft(category_id=category.id, unit_price=Money(3000 + 100 * n, "CNY"),
                               min_units=1),),
            availability=plan,
            documents=(Document(DocumentKind.ID_PHOTO, f"doc:id:{n}"),),
        ))
        await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
        await runtime.bus.handle(SetPresence(actor_id=user.id, provider_id=user.id,
                                             presence="online"))
        providers.append((int(user.id), sim))
        subcategory[int(user.id)] = int(category.id)
    customers = []
    for n in range(users):
        locale = "zh" if n % 2 else "en"
        sim = standin.create_user(f"{who}Customer {n}", language_code=locale)
        await runtime.bus.handle(RegisterFromChannel(
            platform="telegram", external_id=str(sim.id), chat_id=str(sim.id),
            display_name=f"{who}Customer {n}", language_code=locale,
        ))
        customers.append(sim)
    return Seeded(int(categories[GAMES].id), subcategory, providers, customers)


async def quiet(world: BotWorld, *, for_seconds: float = 0.5, within: float = 120.0) -> None:
    """Wait until the bot has said nothing for a while (the seeding's notices are out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        seen = len(world.events)
        await asyncio.sleep(for_seconds)
        if len(world.events) == seen:
            return


async def customer_session(
    bench: Bench, me: Person, seeded: Seeded, rng: random.Random,
    booking: tuple[int, Person] | None,
) -> None:
    """Browse (the catalog, a category, pages of providers, a card); a booker then books
    their provider's first free hour, pays in the sandbox, waits to be accepted and chats."""
    games = seeded.games
    if booking is not None:
        provider_id, provider = booking
        sub = seeded.subcategory[provider_id]
    else:
        provider_id, provider = 0, None
        sub = rng.choice(sorted(set(seeded.subcategory.values())))
    await me.send("browse", "/browse", has_button(eq(f"cb:{games}:0")))
    await me.tap("browse", eq(f"cb:{games}:0"), has_button(eq(f"cb:{sub}:1")))
    await me.tap("browse", eq(f"cb:{sub}:1"), has_button(startswith("cp:")))
    page = 1
    # Everyone looks at the next page; a booker goes on until their provider shows.
    while page == 1 or (booking is not None and not me.shows(f"cp:{provider_id}:card")):
        if not me.shows(f"cb:{sub}:{page + 1}"):
            break
        page += 1
        await me.tap("browse", eq(f"cb:{sub}:{page}"), has_button(startswith("cp:")))
    if booking is None:
        _, card = me.button(lambda data: data.startswith("cp:") and data.endswith(":card"))
        provider_id = int(card.split(":")[1])
    if me.shows(f"cp:{provider_id}:card"):
        await me.tap("browse", eq(f"cp:{provider_id}:card"),
                     has_button(eq(f"cp:{provider_id}:book")))
    else:
        # The order moved between pages (providers' standing changes as they get orders):
        # the booker opens the provider's shared link instead.
        await me.send("browse", f"/start p_{provider_id}", has_button(eq(f"cp:{provider_id}:book")))
    if booking is None or provider is None:
        return

    await me.tap("book", eq(f"cp:{provider_id}:book"), has_button(startswith(f"co:{provider_id}:")))
    await me.tap("book", lambda d: d.startswith(f"co:{provider_id}:") and d.endswith(":1"),
                 has_button(lambda d: d.startswith("cc:b:") and ":d:" in d))
    await me.tap("book", lambda d: d.startswith("cc:b:") and ":d:" in d,
                 has_button(lambda d: d.startswith("cc:b:") and ":s:" in d))
    await me.tap("book", lambda d: d.startswith("cc:b:") and ":s:" in d,
                 has_button(eq("ck:skip")))
    await me.tap("book", eq("ck:skip"), has_button(eq("ck:confirm")))
    await me.tap("book", eq("ck:confirm"),
                 has_button(lambda d: d.startswith("cy:o:") and d.endswith(":sandbox:")))
    _, pay = me.button(lambda d: d.startswith("cy:o:") and d.endswith(":sandbox:"))
    order_id = int(pay.split(":")[2])
    await me.tap("book", eq(pay), anything)

    # The provider hears of the paid order and accepts it.
    await provider.wait_for(has_button(eq(f"a:order.accept:{order_id}")))
    await provider.tap("accept", eq(f"a:order.accept:{order_id}"))

    for turn in range(CHAT_ROUNDS):
        line = f"Customer line {turn} for order {order_id}"
        await me.send("chat", line, says(line), seen_in=provider.sim.id)
        answer = f"Provider answer {turn} for order {order_id}"
        await provider.send("chat", answer, says(answer), seen_in=me.sim.id)


PROFILE_TO: str | None = None  # --profile: cProfile (process time) of Yueban's window


@contextlib.contextmanager
def profiling(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    import cProfile

    profile = cProfile.Profile(time.process_time)
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


@contextlib.contextmanager
def counting(service: Any, world: BotWorld) -> Iterator[dict[str, int]]:
    """SQL statements, Redis commands and Bot API calls the bot makes while the block runs
    (the whole process: handlers, the notice relay, the bus's event handlers)."""
    counts = {"sql": 0, "redis": 0, "api": 0, "api_http": 0}

    texts: Counter[str] = Counter()

    def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        counts["sql"] += 1
        if PROFILE_TO:
            texts[" ".join(text.split())[:150]] += 1

    engine = service.runtime.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", statement)
    redis = service.redis
    if redis is not None:
        execute = redis.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            counts["redis"] += 1
            if PROFILE_TO:
                texts[f"redis {args[0]} {str(args[1])[:40] if len(args) > 1 else ''}"] += 1
            return await execute(*args, **options)

        redis.execute_command = counted
    calls_before = len(world.calls)
    try:
        yield counts
    finally:
        counts["api"] = len(world.calls) - calls_before
        counts["api_http"] = sum(1 for call in world.calls[calls_before:] if call.via == "http")
        if PROFILE_TO:
            methods = Counter(call.method for call in world.calls[calls_before:])
            Path(PROFILE_TO + ".txt").write_text("\n".join(
                f"{n:6} {text}" for text, n in (texts + methods).most_common()))
        sa.event.remove(engine, "before_cursor_execute", statement)
        if redis is not None:
            del redis.execute_command


async def run_mix(world: BotWorld, seeded: Seeded, *, measure: Callable[[], Any]
                  ) -> tuple[Bench, list[Person], list[tuple[int, Person]], Any]:
    """Every seeded customer's session at once, inside `measure()` (a context manager)."""
    with Chats(world) as chats:
        bench = Bench(world, chats)
        providers = [(pid, Person(bench, sim)) for pid, sim in seeded.providers]
        customers = [Person(bench, sim) for sim in seeded.customers]
        # Every fourth customer books, each a provider of their own.
        bookings: dict[int, tuple[int, Person]] = {
            4 * n: provider for n, provider in enumerate(providers)
        }
        rng = random.Random(7)

        async def session(n: int, person: Person) -> None:
            try:
                await customer_session(bench, person, seeded, rng, bookings.get(n))
            except (TimeoutError, LookupError) as error:
                bench.failures.append(f"customer {n}: {type(error).__name__} {error}")

        with measure() as measured:
            await asyncio.gather(*(session(n, person) for n, person in enumerate(customers)))
    return bench, customers, providers, measured


async def yueban_part(
    standin: BotApiStandIn, users: int, database_url: str, redis_url: str | None,
    warm_up: int,
) -> tuple[dict[str, Any], list[int]]:
    async with yueban_bot(standin, database_url, redis_url) as (world, service):
        if warm_up:
            # A server that has been up a while: its pool's connections are open and have
            # prepared the mix's statements, its clients are connected. The people measured
            # below are still new to it (their first contact, their first messages).
            warm = await seed(service.runtime, standin, warm_up, who="Warm-up ")
            await quiet(world)
            await run_mix(world, warm, measure=contextlib.nullcontext)
        seeded = await seed(service.runtime, standin, users)
        await quiet(world)

        @contextlib.contextmanager
        def measure() -> Iterator[tuple[dict[str, int], list[float]]]:
            clock: list[float] = []
            tune_collector()  # as `yueban run` does once it is wired
            with counting(service, world) as counts, profiling(PROFILE_TO):
                started, cpu = time.perf_counter(), time.process_time()
                yield counts, clock
                clock.extend((time.perf_counter() - started, time.process_time() - cpu))

        bench, customers, providers, (counts, (seconds, cpu)) = await run_mix(
            world, seeded, measure=measure)
    people = [p.sent for p in customers] + [p.sent for _, p in providers]
    total = sum(people)
    say(f"  yueban bot: {total} updates in {seconds:.2f} s "
        f"({', '.join(f'{k} {v}' for k, v in bench.sent.items())})")
    for failure in bench.failures[:5]:
        say(f"    failed: {failure}")
    return {
        "updates": total,
        "seconds": seconds,
        "cpu_ms_per_update": round(cpu * 1000 / total, 2),
        "sql_per_update": round(counts["sql"] / total, 2),
        "redis_per_update": round(counts["redis"] / total, 2),
        "api_calls_per_update": round(counts["api"] / total, 2),
        "api_http_requests_per_update": round(counts["api_http"] / total, 2),
        "mix": dict(bench.sent),
        "latency_ms": {kind: summary(ms) for kind, ms in bench.latencies.items()},
        "failures": len(bench.failures),
    }, people


async def echo_part(standin: BotApiStandIn, counts: list[int], warm_up: int) -> dict[str, Any]:
    """The same people sending the same number of updates, each waiting for the answer."""
    async with echo_bot(standin) as world:
        with Chats(world) as chats:
            bench = Bench(world, chats)
            warm = [Person(bench, standin.create_user(f"W{n}", world=world)) for n in range(warm_up)]
            await asyncio.gather(*(p.send("warm-up", f"warm-up {p.sim.id}", says(f"warm-up {p.sim.id}"))
                                   for p in warm))
            people = [Person(bench, standin.create_user(f"E{n}", world=world))
                      for n in range(len(counts))]
            # Under the same collector as Yueban's part, and not walking what it left behind.
            tune_collector()

            async def session(person: Person, count: int) -> None:
                try:
                    for turn in range(count):
                        line = f"hello {person.sim.id} {turn}"
                        await person.send("echo", line, says(line))
                except (TimeoutError, LookupError) as error:
                    bench.failures.append(f"{person.sim!r}: {type(error).__name__} {error}")

            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(session(p, c) for p, c in zip(people, counts, strict=True)))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    total = sum(p.sent for p in people)
    say(f"  echo bot: {total} updates in {seconds:.2f} s")
    return {"updates": total, "seconds": seconds, "failures": len(bench.failures),
            "cpu_ms_per_update": round(cpu * 1000 / total, 2),
            "latency_ms": summary(bench.latencies["echo"])}


async def updates_part(
    standin: BotApiStandIn, users: int, database_url: str, redis_url: str | None, warm_up: int
) -> dict[str, Any]:
    yueban, counts = await yueban_part(standin, users, database_url, redis_url, warm_up)
    echo = await echo_part(standin, counts, warm_up)
    echo_rate = echo["updates"] / echo["seconds"]
    yueban_rate = yueban["updates"] / yueban["seconds"]
    return {
        "updates": yueban["updates"],
        "users": users,
        "providers": len(counts) - users,
        "warm_up_customers": warm_up,
        "echo_updates_per_s": round(echo_rate, 1),
        "yueban_updates_per_s": round(yueban_rate, 1),
        "ratio": round(yueban_rate / echo_rate, 3),
        "yueban_mix": yueban["mix"],
        "yueban_cpu_ms_per_update": yueban["cpu_ms_per_update"],
        "echo_cpu_ms_per_update": echo["cpu_ms_per_update"],
        "yueban_sql_per_update": yueban["sql_per_update"],
        "yueban_redis_per_update": yueban["redis_per_update"],
        "yueban_api_calls_per_update": yueban["api_calls_per_update"],
        # Of those, the ones that were HTTP requests (a tap's answer rides in the webhook reply).
        "yueban_api_http_requests_per_update": yueban["api_http_requests_per_update"],
        "yueban_latency_mean_ms": {k: v["mean_ms"] for k, v in yueban["latency_ms"].items()},
        "yueban_latency_p95_ms": {k: v["p95_ms"] for k, v in yueban["latency_ms"].items()},
        "echo_latency_mean_ms": echo["latency_ms"]["mean_ms"],
        "unanswered": {"echo": echo["failures"], "yueban": yueban["failures"]},
    }


# -- broadcast ----------------------------------------------------------------------------------


async def broadcast_part(redis_url: str | None) -> dict[str, Any]:
    # Its own stand-in process, as Telegram is another machine: the server's clock and work
    # must not pause when the sender's process does.
    async with standin_process(BROADCAST_LIMIT) as (base_url, token):
        async with aiohttp.ClientSession() as http:
            creating = asyncio.Semaphore(32)

            async def new_person(n: int) -> int:
                async with creating:
                    body = {"first_name": f"B{n}"}
                    async with http.post(f"{base_url}/_standin/users", json=body) as response:
                        return int((await response.json())["result"]["id"])

            people = await asyncio.gather(*(new_person(n) for n in range(BROADCAST_MESSAGES)))
            redis = None
            if redis_url:
                from storage.redis_client import redis_client

                redis = redis_client(redis_url)
            prefix = f"yueban-bench-{uuid.uuid4().hex[:8]}:rate:"
            limiter = RedisRateLimiter(redis, prefix=prefix) if redis else InProcessRateLimiter()
            bot = build_bot(
                token,
                api_base=base_url,
                limiter=limiter,
                limits=OutboundLimits(per_bot_per_second=BROADCAST_LIMIT),
            )
            messenger = TelegramMessenger(bot)
            delivered = 0

            sending = asyncio.Semaphore(64)  # as many at once as the notice relay sends

            async def send(chat_id: int) -> None:
                nonlocal delivered
                async with sending:
                    result = await messenger.deliver(
                        Notice(0, "tg.help"), ChannelAddress("telegram", str(chat_id), "en")
                    )
                    delivered += result.delivered

            started = time.perf_counter()
            try:
                await asyncio.gather(*(send(chat_id) for chat_id in people))
            finally:
                await bot.session.close()
                if redis is not None:
                    keys = [key async for key in redis.scan_iter(f"{prefix}*")]
                    if keys:
                        await redis.delete(*keys)
                    await redis.aclose()
            seconds = time.perf_counter() - started
            async with http.get(f"{base_url}/_standin/calls?method=sendMessage") as response:
                calls = (await response.json())["result"]
    received = {int(c["params"]["chat_id"]) for c in calls if c["ok"]}
    achieved = BROADCAST_MESSAGES / seconds
    say(f"  broadcast: {BROADCAST_MESSAGES} messages in {seconds:.2f} s ({achieved:.0f}/s)")
    return {
        "messages": BROADCAST_MESSAGES,
        "limit_per_s": BROADCAST_LIMIT,
        "seconds": round(seconds, 2),
        "achieved_per_s": round(achieved, 1),
        "achieved_over_limit": round(achieved / BROADCAST_LIMIT, 3),
        "http_429": sum(1 for c in calls if c["error_code"] == 429),
        "lost": len(set(people) - received),
        "reported_delivered": delivered,
        "limiter": "redis" if redis_url else "in-process",
        "stand_in": "separate process",
    }


@contextlib.asynccontextmanager
async def standin_process(limit: int) -> AsyncIterator[tuple[str, str]]:
    """A stand-in in a child process limiting the bot to `limit` messages/s: (URL, token)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, SCRIPT, "--serve-standin", str(limit),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    line = (await asyncio.wait_for(child.stdout.readline(), 120)).decode().split()
    try:
        yield line[1], line[2]
    finally:
        child.stdin.close()
        await child.wait()


async def serve_standin(limit: int) -> None:
    """The child's side: serve until the parent closes our stdin."""
    limits = RateLimits(per_bot_per_second=limit, per_bot_burst=30)
    async with BotApiStandIn.running(rate_limits=limits) as standin:
        print("READY", standin.base_url, standin.token, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- running ------------------------------------------------------------------------------------


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 customers, 50 providers.")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL.")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--no-broadcast", action="store_true", help="Only the updates part.")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="Measure a cold process (no warm-up mix before the clock starts).")
    parser.add_argument("--profile", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-standin", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_standin:
        await serve_standin(args.serve_standin)
        return 0
    global PROFILE_TO
    PROFILE_TO = args.profile
    users = args.users or (200 if args.quick else 1_000)
    logging.basicConfig(level=logging.ERROR)
    say(f"telegram throughput: {users} customers and {max(1, users // 4)} providers, "
        "then a broadcast")
    async with scratch_database(args.database_url, "tg") as (url, kind):
        async with BotApiStandIn.running(rate_limits=RateLimits.off()) as standin:
            warm_up = 0 if args.no_warm_up else max(4, users // 5)
            updates = await updates_part(standin, users, url, args.redis_url, warm_up)
        broadcast = None if args.no_broadcast else await broadcast_part(args.redis_url)
    emit({
        "bench": "telegram_throughput",
        "quick": args.quick,
        "database": kind,
        "redis": bool(args.redis_url),
        **updates,
        "broadcast": broadcast,
    })
    ok = (broadcast is None or broadcast["lost"] == 0) and not any(updates["unanswered"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
