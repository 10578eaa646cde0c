"""Planning notices: a batch of events costs one read of its recipients and one insert of its
deliveries, whatever its size, and every recipient still gets exactly one delivery per notice
and chat, in their language and time zone, once however often the event is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime
from app.notifications import GROUP_RECIPIENT, GroupRoute, NotificationRelay
from core.identity.commands import IssueLinkCode, RedeemLinkCode, SetTimezone
from core.notices import Delivery, NoticeRegistry
from core.ports import ChannelAddress, DeliveryResult
from core.shared.messages import Event, Notice
from storage.tables.infra import outbox
from storage.tables.notifications import notice_deliveries
from tests.integration.identity.helpers import register
from tests.integration.statements import statements_on


@dataclass(frozen=True, kw_only=True)
class TeaIsReady(Event):
    """A stand-in for any area's event that people are told about."""

    user_ids: tuple[int, ...]
    notices_each: int = 1


def tea_notices(event: Event) -> list[Notice]:
    assert isinstance(event, TeaIsReady)
    return [
        Notice(user_id, "tg.start.welcome", {"name": f"cup {n}"})
        for user_id in event.user_ids
        for n in range(event.notices_each)
    ]


class Sink:
    async def deliver(self, notice: Notice, address: ChannelAddress) -> DeliveryResult:
        return DeliveryResult(delivered=True, channel_message_id="1")


def relay_for(runtime: Runtime, platforms: tuple[str, ...] = ("telegram", "wechat"),
              **options: Any) -> NotificationRelay:
    registry = NoticeRegistry()
    registry.register(TeaIsReady, tea_notices)
    return NotificationRelay(
        runtime.uow_factory, runtime.bus, {p: Sink() for p in platforms},  # type: ignore[misc]
        clock=runtime.clock, registry=registry, **options,
    )


async def emit(runtime: Runtime, *events: Event) -> None:
    async with runtime.uow_factory() as uow:
        for event in events:
            uow.emit(event)
        await uow.commit()


async def deliveries_of(runtime: Runtime, event: Event) -> list[Delivery]:
    async with runtime.uow_factory() as uow:
        return await uow.notice_deliveries.of_event(event.event_id)




async def people(runtime: Runtime, count: int, first: int = 0) -> list[int]:
    return [(await register(runtime, str(1000 + n), name=f"P{n}")).id
            for n in range(first, first + count)]


# Claim the outbox rows, read every recipient, insert every delivery, mark the rows
# dispatched; SQLite begins with BEGIN IMMEDIATE.
PLAN_STATEMENTS = {"postgresql": 4, "sqlite": 5}


async def test_a_batch_of_events_reads_its_recipients_once_and_inserts_its_deliveries_once(
    runtime: Runtime, engine: AsyncEngine
) -> None:
    relay = relay_for(runtime)
    user_ids: list[int] = []
    for events, recipients in ((1, 1), (6, 5)):
        user_ids += await people(runtime, recipients - len(user_ids), first=len(user_ids))
        await relay.drain()  # the registrations' own events
        await emit(runtime, *(TeaIsReady(user_ids=tuple(user_ids)) for _ in range(events)))

        with statements_on(engine) as statements:
            stats = await relay.plan_batch()

        assert (stats.events, stats.planned) == (events, events * recipients)
        assert len(statements) == PLAN_STATEMENTS[engine.dialect.name], statements
        assert sum("notice_deliveries" in s for s in statements) == 1
        assert sum(s.lstrip().startswith("SELECT users.") for s in statements) == 1


async def test_each_recipient_gets_one_delivery_per_chat_in_their_language_and_time_zone(
    runtime: Runtime,
) -> None:
    ann = await register(runtime, "1001", name="Ann", language_code="en")
    await runtime.bus.handle(SetTimezone(user_id=ann.id, timezone="Europe/London"))
    bo = await register(runtime, "1002", name="Bo", language_code="zh-hans")
    # Cy talks from Telegram and WeChat: one account linked to the other.
    cy = await register(runtime, "1003", name="Cy", language_code="en")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=cy.id))
    await runtime.bus.handle(RedeemLinkCode(code=issued.code, platform="wechat",
                                            external_id="oCY", chat_id="oCY-chat"))
    relay = relay_for(runtime)
    await relay.drain()
    tea = TeaIsReady(user_ids=(ann.id, bo.id, cy.id))
    await emit(runtime, tea)

    stats = await relay.plan_batch()

    planned = await deliveries_of(runtime, tea)
    assert stats.planned == len(planned) == 4
    assert sorted((d.key.user_id, d.key.platform, d.chat_id, d.locale, d.timezone, d.notice.params["name"])
                  for d in planned) == sorted([
        (ann.id, "telegram", "1001", "en", "Europe/London", "cup 0"),
        (bo.id, "telegram", "1002", "zh", "Asia/Shanghai", "cup 0"),
        (cy.id, "telegram", "1003", "en", "Asia/Shanghai", "cup 0"),
        (cy.id, "wechat", "oCY-chat", "en", "Asia/Shanghai", "cup 0"),
    ])


async def test_a_notice_for_a_merged_duplicate_reaches_the_person_it_was_merged_into(
    runtime: Runtime,
) -> None:
    ann = await register(runtime, "1001", name="Ann", language_code="en")
    duplicate = await register(runtime, "oWX1", platform="wechat", language_code="zh-hans")
    issued = await runtime.bus.handle(IssueLinkCode(user_id=ann.id, actor_id=ann.id))
    await runtime.bus.handle(RedeemLinkCode(code=issued.code, platform="wechat",
                                            external_id="oWX1", chat_id="oWX1",
                                            actor_id=duplicate.id))
    relay = relay_for(runtime)
    await relay.drain()
    tea = TeaIsReady(user_ids=(duplicate.id,))
    await emit(runtime, tea)

    await relay.plan_batch()

    planned = await deliveries_of(runtime, tea)
    assert sorted((d.key.user_id, d.key.platform, d.chat_id, d.locale) for d in planned) == [
        (duplicate.id, "telegram", "1001", "en"),
        (duplicate.id, "wechat", "oWX1", "en"),
    ]


async def test_nobody_unreachable_holds_up_the_batch(runtime: Runtime) -> None:
    ann = await register(runtime, "1001", name="Ann")
    wechat_only = await register(runtime, "oWX9", platform="wechat")
    relay = relay_for(runtime, platforms=("telegram",))
    await relay.drain()
    # Someone with no chat this deployment serves, and an id with nobody behind it.
    tea = TeaIsReady(user_ids=(wechat_only.id, 987_654, ann.id))
    await emit(runtime, tea)

    stats = await relay.plan_batch()

    assert (stats.events, stats.planned) == (1, 1)
    assert [(d.key.user_id, d.chat_id) for d in await deliveries_of(runtime, tea)] == [
        (ann.id, "1001")
    ]
    assert (await relay.plan_batch()).events == 0  # the event is done with, not retried


async def test_planning_an_event_again_adds_no_delivery(runtime: Runtime) -> None:
    ann, bo = await people(runtime, 2)
    relay = relay_for(runtime)
    await relay.drain()
    first = TeaIsReady(user_ids=(ann, bo), notices_each=2)
    await emit(runtime, first)
    assert (await relay.plan_batch()).planned == 4
    before = await deliveries_of(runtime, first)
    # The event is read again (its outbox row was not seen as dispatched), in a batch with a
    # new event: only the new event's deliveries are added.
    second = TeaIsReady(user_ids=(bo,))
    await emit(runtime, second)
    async with runtime.engine.begin() as connection:
        await connection.execute(
            outbox.update().where(outbox.c.event_id == first.event_id).values(dispatched_at=None)
        )

    stats = await relay.plan_batch()

    assert (stats.events, stats.planned) == (2, 1)
    assert await deliveries_of(runtime, first) == before
    assert [d.key.user_id for d in await deliveries_of(runtime, second)] == [bo]


async def test_one_chats_notices_are_planned_in_the_order_they_are_sent(runtime: Runtime) -> None:
    [ann] = await people(runtime, 1)
    relay = relay_for(runtime)
    await relay.drain()
    teas = [TeaIsReady(user_ids=(ann,), notices_each=3) for _ in range(2)]
    await emit(runtime, *teas)

    await relay.plan_batch()

    async with runtime.uow_factory() as uow:
        planned = sorted(await uow.notice_deliveries.of_user(ann), key=lambda d: d.id)
    assert [(d.key.event_id, d.notice.params["name"]) for d in planned] == [
        (tea.event_id, f"cup {n}") for tea in teas for n in range(3)
    ]


async def test_a_group_card_is_planned_with_the_peoples_notices(runtime: Runtime) -> None:
    [ann] = await people(runtime, 1)
    cards = NoticeRegistry()
    cards.register(TeaIsReady, lambda event: [Notice(GROUP_RECIPIENT, "tg.start.welcome",
                                                     {"name": "the team"})])
    relay = relay_for(runtime, group_routes=[GroupRoute(
        platform="telegram", chat_id="-100777", locale="zh", timezone="Asia/Shanghai",
        registry=cards)])
    await relay.drain()
    tea = TeaIsReady(user_ids=(ann,))
    await emit(runtime, tea)

    stats = await relay.plan_batch()

    assert stats.planned == 2
    assert sorted((d.key.user_id, d.chat_id, d.notice.params["name"])
                  for d in await deliveries_of(runtime, tea)) == [
        (GROUP_RECIPIENT, "-100777", "the team"),
        (ann, "1000", "cup 0"),
    ]


async def test_planned_deliveries_keep_their_notice_whole(runtime: Runtime) -> None:
    [ann] = await people(runtime, 1)
    relay = relay_for(runtime)
    await relay.drain()
    tea = TeaIsReady(user_ids=(ann,))
    await emit(runtime, tea)
    await relay.plan_batch()

    async with runtime.engine.connect() as connection:
        row = (await connection.execute(sa.select(notice_deliveries))).one()
    assert (row.status, row.attempts, row.notice_key) == ("pending", 0, "tg.start.welcome")
    assert row.notice["params"] == {"name": "cup 0"}
    assert row.created_at == row.updated_at == row.next_attempt_at == runtime.clock.now()
