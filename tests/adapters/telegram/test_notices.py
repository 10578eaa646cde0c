"""Notices reach people through the outbox relay and the TelegramMessenger, over HTTP:
with buttons, split when long, once each even with two relays at once or after a crash,
and a refusal (the person blocked the bot) comes back to the core as an event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.notifications import NotificationRelay
from bots.i18n import gettext
from bots.telegram.factory import build_bot
from bots.telegram.messenger import TelegramMessenger
from bots.telegram.ratelimit import OutboundLimits
from bots.telegram.standin import BotApiStandIn, SimUser
from core.identity.commands import RegisterFromChannel
from core.notices import DeliveryStatus, NoticeRegistry, NoticeUndelivered
from core.ports import ChannelAddress, DeliveryResult
from core.shared.clock import FixedClock
from core.shared.messages import Action, Event, Notice
from storage.tables.infra import outbox
from tests.adapters.telegram.conftest import RunningBot, SettingsFactory


@dataclass(frozen=True, kw_only=True)
class CourtesyNoticeRequested(Event):
    """A stand-in for any area's event that someone should be told about."""

    user_ids: tuple[int, ...]
    greeting_name: str = "friend"


def language_offer(event: Event) -> list[Notice]:
    assert isinstance(event, CourtesyNoticeRequested)
    return [
        Notice(
            user_id,
            "tg.language.choose",
            actions=(
                Action("settings.language", {"locale": "zh"}, "tg.language.name.zh"),
                Action("settings.language", {"locale": "en"}, "tg.language.name.en"),
            ),
        )
        for user_id in event.user_ids
    ]


def welcome(event: Event) -> list[Notice]:
    assert isinstance(event, CourtesyNoticeRequested)
    return [Notice(user_id, "tg.start.welcome", {"name": event.greeting_name}) for user_id in event.user_ids]


async def emit(runtime: Runtime, *events: Event) -> None:
    async with runtime.uow_factory() as uow:
        for event in events:
            uow.emit(event)
        await uow.commit()


async def user_id_of(runtime: Runtime, person: SimUser) -> int:
    async with runtime.uow_factory() as uow:
        user = await uow.users.get_by_channel("telegram", str(person.id))
    assert user is not None
    return user.id


# -- through the running service ------------------------------------------------------------


async def test_a_notice_arrives_with_buttons_that_work(tg: RunningBot) -> None:
    ann = tg.standin.create_user("Ann", language_code="en")
    await ann.start()
    await ann.next_message()
    tg.service.relay.registry.register(CourtesyNoticeRequested, language_offer)

    await emit(tg.runtime, CourtesyNoticeRequested(user_ids=(await user_id_of(tg.runtime, ann),)))
    tg.service.relay.wake()
    notice = await ann.next_message()

    assert notice["text"] == "Choose your language:"
    buttons = [b["text"] for row in notice["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["中文", "English"]
    answer = await (await ann.tap(notice, "中文")).answer()
    assert answer["text"] == gettext("tg.language.changed", "zh")


async def test_a_notice_longer_than_telegram_allows_arrives_as_two_messages(tg: RunningBot) -> None:
    ann = tg.standin.create_user("Ann", language_code="en")
    await ann.start()
    await ann.next_message()
    tg.service.relay.registry.register(CourtesyNoticeRequested, welcome)
    long_name = " ".join(["Annabelle"] * 500)  # 4,999 characters

    await emit(tg.runtime, CourtesyNoticeRequested(
        user_ids=(await user_id_of(tg.runtime, ann),), greeting_name=long_name))
    tg.service.relay.wake()
    first, second = await ann.next_message(), await ann.next_message()

    full = gettext("tg.start.welcome", "en", name=long_name)
    assert len(full) > 5000
    assert len(first["text"]) <= 4096 and len(second["text"]) <= 4096
    assert first["text"] + " " + second["text"] == full
    assert first["text"].endswith("Annabelle")


async def test_a_person_who_blocked_the_bot_is_recorded_and_reported(tg: RunningBot) -> None:
    ann = tg.standin.create_user("Ann", language_code="en")
    await ann.start()
    await ann.next_message()
    user_id = await user_id_of(tg.runtime, ann)
    await ann.block()
    tg.service.relay.registry.register(CourtesyNoticeRequested, welcome)
    event = CourtesyNoticeRequested(user_ids=(user_id,))

    await emit(tg.runtime, event)
    tg.service.relay.wake()
    deliveries = await _deliveries_when_final(tg.runtime, event.event_id)

    assert [(d.status, d.failure) for d in deliveries] == [(DeliveryStatus.FAILED, "blocked")]
    async with tg.runtime.uow_factory() as uow:
        audit = await uow.audit.for_entity("user", str(user_id))
    refused = [e for e in audit if e.action == "notice_undelivered"]
    assert [(e.reason, e.data["notice_key"]) for e in refused] == [("blocked", "tg.start.welcome")]
    async with tg.runtime.engine.connect() as connection:
        rows = (await connection.execute(
            sa.select(outbox.c.payload).where(outbox.c.event_type == NoticeUndelivered.type_name())
        )).all()
    assert [(r.payload["user_id"], r.payload["failure"], r.payload["source_event_id"])
            for r in rows] == [(user_id, "blocked", event.event_id)]


async def _deliveries_when_final(runtime: Runtime, event_id: str) -> list:  # type: ignore[type-arg]
    for _ in range(500):
        async with runtime.uow_factory() as uow:
            deliveries = await uow.notice_deliveries.of_event(event_id)
        if deliveries and all(
            d.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED) for d in deliveries
        ):
            return deliveries
        await asyncio.sleep(0.01)
    raise TimeoutError("deliveries did not finish")


# -- relays driven by hand ------------------------------------------------------------------


@pytest.fixture
async def runtime(bot_settings: SettingsFactory, engine: AsyncEngine, clock: FixedClock) -> Runtime:
    return bootstrap(bot_settings(webhook=False), clock=clock, engine=engine)


@pytest.fixture
async def bot(standin: BotApiStandIn) -> AsyncIterator[Bot]:
    # The stand-in enforces no limits here; a fast pace keeps the test quick.
    limits = OutboundLimits(per_bot_per_second=1000, per_bot_burst=100)
    client = build_bot(standin.token, api_base=standin.base_url, limits=limits)
    yield client
    await client.session.close()


async def people(runtime: Runtime, standin: BotApiStandIn, count: int) -> list[tuple[SimUser, int]]:
    found = []
    for n in range(count):
        person = standin.create_user(f"Person {n}", language_code="en")
        user = await runtime.bus.handle(RegisterFromChannel(
            platform="telegram", external_id=str(person.id), chat_id=str(person.id),
            display_name=f"Person {n}", language_code="en"))
        found.append((person, user.id))
    return found


def relay_for(runtime: Runtime, messenger: object, **options: object) -> NotificationRelay:
    registry = NoticeRegistry()
    registry.register(CourtesyNoticeRequested, welcome)
    return NotificationRelay(
        runtime.uow_factory, runtime.bus, {"telegram": messenger},  # type: ignore[dict-item]
        clock=runtime.clock, registry=registry, batch_size=7, **options,  # type: ignore[arg-type]
    )


async def test_two_relays_at_once_deliver_each_notice_once(
    runtime: Runtime, standin: BotApiStandIn, bot: Bot
) -> None:
    crowd = await people(runtime, standin, 10)
    events = [
        CourtesyNoticeRequested(user_ids=tuple(uid for _, uid in crowd), greeting_name=f"round {n}")
        for n in range(3)  # within one chat's burst, so pacing does not slow the test
    ]
    await emit(runtime, *events)
    first, second = (relay_for(runtime, TelegramMessenger(bot)) for _ in range(2))

    await asyncio.gather(first.drain(), second.drain())

    for person, _ in crowd:
        # Each notice exactly once; two relays sending side by side may interleave them.
        texts = sorted(m["text"] for m in person.bot_messages())
        assert texts == [gettext("tg.start.welcome", "en", name=f"round {n}") for n in range(3)]
    assert first.totals.sent + second.totals.sent == 30
    assert first.totals.planned + second.totals.planned == 30


class RelayDied(BaseException):
    """The process stopping between the send and the bookkeeping (kill -9, power cut)."""


@dataclass
class DiesAfterSending:
    inner: TelegramMessenger
    platform: str = "telegram"

    async def deliver(self, notice: Notice, address: ChannelAddress) -> DeliveryResult:
        await self.inner.deliver(notice, address)
        raise RelayDied


async def test_a_relay_dying_after_sending_never_sends_twice_and_the_gap_is_reported(
    runtime: Runtime, standin: BotApiStandIn, bot: Bot, clock: FixedClock
) -> None:
    [(person, user_id)] = await people(runtime, standin, 1)
    event = CourtesyNoticeRequested(user_ids=(user_id,))
    await emit(runtime, event)

    with pytest.raises(RelayDied):
        await relay_for(runtime, DiesAfterSending(TelegramMessenger(bot))).drain()
    restarted = relay_for(runtime, TelegramMessenger(bot))
    await restarted.drain()
    assert len(person.bot_messages()) == 1

    clock.advance(timedelta(minutes=11))
    await restarted.drain()
    assert len(person.bot_messages()) == 1
    async with runtime.uow_factory() as uow:
        [delivery] = await uow.notice_deliveries.of_event(event.event_id)
    assert (delivery.status, delivery.failure) == (DeliveryStatus.FAILED, "interrupted")


@dataclass
class FlakyNetwork:
    inner: TelegramMessenger
    failures_left: int
    platform: str = "telegram"

    async def deliver(self, notice: Notice, address: ChannelAddress) -> DeliveryResult:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise ConnectionResetError("connection reset by peer")
        return await self.inner.deliver(notice, address)


async def test_a_network_failure_is_retried_later_and_then_delivered(
    runtime: Runtime, standin: BotApiStandIn, bot: Bot, clock: FixedClock
) -> None:
    [(person, user_id)] = await people(runtime, standin, 1)
    await emit(runtime, CourtesyNoticeRequested(user_ids=(user_id,)))
    relay = relay_for(runtime, FlakyNetwork(TelegramMessenger(bot), failures_left=1))

    first = await relay.drain()
    assert (first.sent, first.retried) == (0, 1)
    assert person.bot_messages() == []

    clock.advance(timedelta(seconds=6))
    second = await relay.drain()
    assert second.sent == 1
    assert len(person.bot_messages()) == 1


async def test_a_notice_that_keeps_failing_is_given_up_and_reported(
    runtime: Runtime, standin: BotApiStandIn, bot: Bot, clock: FixedClock
) -> None:
    [(person, user_id)] = await people(runtime, standin, 1)
    event = CourtesyNoticeRequested(user_ids=(user_id,))
    await emit(runtime, event)
    relay = relay_for(runtime, FlakyNetwork(TelegramMessenger(bot), failures_left=99), max_attempts=3)

    for _ in range(4):
        await relay.drain()
        clock.advance(timedelta(minutes=15))

    async with runtime.uow_factory() as uow:
        [delivery] = await uow.notice_deliveries.of_event(event.event_id)
    assert (delivery.status, delivery.failure, delivery.attempts) == ("failed", "error", 3)
    assert person.bot_messages() == []
