"""Messages waiting for a WeChat window, through the handlers with in-memory fakes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.booking.events import OrderAccepted
from core.identity.model import Role
from core.messagebus import MessageBus
from core.relay import commands as c
from core.relay import events as ev
from core.relay import handlers, pending
from core.relay.model import DeliveryMode, MessageKind
from core.relay.notices import notices_for
from core.relay.pending import (
    AnyPendingRelays,
    ClaimPendingRelays,
    ExpirePendingRelays,
    ListPendingRelays,
    MarkPendingDelivered,
    PendingPolicy,
    PendingRelay,
    PendingStatus,
    QueueRefusedEdit,
    ReleasePendingRelays,
)
from core.shared.clock import FixedClock
from core.shared.errors import Forbidden
from core.shared.messages import Event
from tests.fakes import FakeUnitOfWork
from tests.unit.relay.fakes import relay_uow

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CUSTOMER, PROVIDER, TG_PROVIDER, OPERATOR, STRANGER = 1, 2, 3, 9, 7
OPENID = "oW-200"
LIVE = (PendingStatus.QUEUED, PendingStatus.SENDING)


class FakePendingRelays:
    def __init__(self) -> None:
        self.rows: dict[int, PendingRelay] = {}

    def _sorted(self, found: list[PendingRelay]) -> list[PendingRelay]:
        return sorted(found, key=lambda i: (i.relayed_message_id, i.id))

    async def add(self, item: PendingRelay) -> PendingRelay | None:
        if any((r.relayed_message_id, r.recipient_id) == (item.relayed_message_id, item.recipient_id)
               for r in self.rows.values()):
            return None
        stored = dataclasses.replace(item, id=len(self.rows) + 1)
        self.rows[stored.id] = stored
        return stored

    async def get(self, pending_id: int) -> PendingRelay | None:
        return self.rows.get(pending_id)

    async def live_for(self, platform: str, chat_id: str, *,
                       for_update: bool = False) -> list[PendingRelay]:
        return self._sorted([r for r in self.rows.values() if (r.platform, r.chat_id)
                             == (platform, chat_id) and r.status in LIVE])

    async def live_of_conversation(self, conversation_id: int, *,
                                   for_update: bool = False) -> list[PendingRelay]:
        return self._sorted([r for r in self.rows.values()
                             if r.conversation_id == conversation_id and r.status in LIVE])

    async def any_live(self, platform: str, chat_id: str) -> bool:
        return bool(await self.live_for(platform, chat_id))

    async def of_conversation(self, conversation_id: int) -> list[PendingRelay]:
        return self._sorted([r for r in self.rows.values()
                             if r.conversation_id == conversation_id])

    async def due_to_expire(self, queued_before: datetime, now: datetime,
                            limit: int) -> list[PendingRelay]:
        due = [r for r in self.rows.values() if r.claimable(now) and r.queued_at <= queued_before]
        return sorted(due, key=lambda r: (r.queued_at, r.id))[:limit]

    def _set(self, ids: Sequence[int], **changes: Any) -> None:
        for i in ids:
            self.rows[i] = dataclasses.replace(self.rows[i], **changes)

    async def claim(self, pending_ids: Sequence[int], until: datetime) -> None:
        self._set(pending_ids, status=PendingStatus.SENDING, claimed_until=until)

    async def mark_delivered(self, pending_id: int, at: datetime) -> None:
        self._set([pending_id], status=PendingStatus.DELIVERED, claimed_until=None,
                  settled_at=at, expiry_reason=None)

    async def release(self, pending_ids: Sequence[int], failure: str) -> list[PendingRelay]:
        claimed = [self.rows[i] for i in pending_ids
                   if self.rows[i].status is PendingStatus.SENDING]
        self._set([r.id for r in claimed], status=PendingStatus.QUEUED, claimed_until=None)
        if claimed:
            first = self.rows[pending_ids[0]]
            self._set([first.id], attempts=first.attempts + 1, last_failure=failure)
        return claimed

    async def expire(self, pending_ids: Sequence[int], at: datetime, reason: str) -> None:
        self._set(pending_ids, status=PendingStatus.EXPIRED, claimed_until=None, settled_at=at,
                  expiry_reason=reason)


def pending_uow(stores: dict[str, Any]) -> FakeUnitOfWork:
    uow = relay_uow(stores)
    uow.relay_pending = stores.setdefault("relay_pending", FakePendingRelays())  # type: ignore[attr-defined]
    return uow


class World:
    def __init__(self, stores: dict[str, Any], policy: PendingPolicy | None = None) -> None:
        self.stores = stores
        self.clock = FixedClock(NOW)
        self.bus = MessageBus(lambda: pending_uow(stores), handlers.COMMAND_HANDLERS,
                              pending.EVENT_HANDLERS,
                              {"clock": self.clock, "relay_queue_policy": policy or PendingPolicy()})
        self._ids = 0

    @property
    def queue(self) -> FakePendingRelays:
        return self.stores["relay_pending"]  # type: ignore[no-any-return]

    def events(self, kind: type[Event]) -> list[Any]:
        return [r.event for r in self.stores["outbox"].records if isinstance(r.event, kind)]

    async def accept(self, order_id: int = 42, provider: int = PROVIDER) -> None:
        uow = pending_uow(self.stores)
        await handlers.on_order_accepted(
            OrderAccepted(order_id=order_id, order_number=f"YB{order_id:05d}",
                          customer_id=CUSTOMER, provider_id=provider, dispatch="direct",
                          scheduled_start=None, started=False),
            uow, self.clock)
        await uow.commit()

    async def refused(self, text: str = "hi", *, sender: int = CUSTOMER,
                      recipient: int = PROVIDER, failure: str = "window_closed",
                      kind: str = "text", files: tuple[str, ...] = ()) -> c.RelayPlan:
        """`sender` writes from Telegram; WeChat refuses the copy for `recipient`."""
        self._ids += 1
        plan: c.RelayPlan = await self.bus.handle(c.RouteInbound(
            sender_user_id=sender, platform="telegram", chat_id=str(sender * 100),
            message_id=str(self._ids), kind=kind, text=text, files=files))
        await self.bus.handle(c.ReportRelayFailed(
            relayed_message_id=plan.relayed_message_id, recipient_user_id=recipient,
            failure=failure))
        return plan



@pytest.fixture
def world() -> World:
    stores: dict[str, Any] = {}
    users = relay_uow(stores).users  # type: ignore[attr-defined]
    users.add(CUSTOMER, ("telegram", "100"))
    users.add(PROVIDER, ("wechat", OPENID), locale="en")
    users.add(TG_PROVIDER, ("telegram", "300"))
    users.add(OPERATOR, ("telegram", "900"), roles=frozenset({Role.OPERATOR}))
    users.add(STRANGER, ("telegram", "700"))
    return World(stores)


async def test_a_message_refused_for_want_of_a_window_waits_with_what_to_send(world: World) -> None:
    await world.accept()
    plan = await world.refused("call me at 13812345678")
    [item] = world.queue.rows.values()
    assert (item.relayed_message_id, item.recipient_id, item.platform, item.chat_id) == (
        plan.relayed_message_id, PROVIDER, "wechat", OPENID)
    assert (item.status, item.mode, item.kind, item.locale) == (
        PendingStatus.QUEUED, DeliveryMode.SEND, MessageKind.TEXT, "en")
    assert "13812345678" not in (item.text or "")  # masked, as relayed
    [queued] = world.events(pending.RelayQueued)
    assert (queued.queued, queued.first_for_recipient, queued.first_for_sender) == (1, True, True)


async def test_only_the_first_waiting_message_tells_each_side(world: World) -> None:
    await world.accept()
    await world.refused("one")
    await world.refused("two")
    await world.refused("sticker", kind="sticker", files=("tg-sticker",))
    first, second, third = world.events(pending.RelayQueued)
    assert [n.key for n in notices_for(first)] == ["notice.relay.queued_for_you",
                                                    "notice.relay.queued"]
    assert notices_for(second) == [] and notices_for(third) == []
    assert third.queued == 3
    assert [i.mode for i in world.queue.rows.values()][-1] is DeliveryMode.PLACEHOLDER
    [to_recipient, to_sender] = notices_for(first)
    assert (to_recipient.recipient_user_id, to_recipient.params) == (
        PROVIDER, {"number": "YB00042", "count": 1})
    assert (to_sender.recipient_user_id, to_sender.params) == (
        CUSTOMER, {"number": "YB00042", "days": 7})


async def test_the_refusal_itself_says_nothing_when_the_message_waits(world: World) -> None:
    await world.accept()
    await world.refused("hi")
    [undelivered] = [r.event for r in world.stores["outbox"].records
                     if isinstance(r.event, ev.RelayUndelivered)]
    assert notices_for(undelivered) == []


async def test_a_blocked_recipient_is_not_waited_for(world: World) -> None:
    await world.accept()
    await world.refused("hi", failure="blocked")
    assert world.queue.rows == {}
    [undelivered] = [r.event for r in world.stores["outbox"].records
                     if isinstance(r.event, ev.RelayUndelivered)]
    assert [n.key for n in notices_for(undelivered)] == ["notice.relay.undelivered_blocked"]


async def test_a_recipient_without_wechat_cannot_be_waited_for_and_the_sender_is_told(
    world: World,
) -> None:
    await world.accept(provider=TG_PROVIDER)
    await world.refused("hi", recipient=TG_PROVIDER)
    assert world.queue.rows == {}
    [expired] = world.events(pending.RelayQueueExpired)
    assert [n.key for n in notices_for(expired)] == ["notice.relay.queue_unreachable"]


async def test_the_queue_is_claimed_in_order_and_only_once_while_it_is_delivered(
    world: World,
) -> None:
    await world.accept()
    plans = [await world.refused(text) for text in ("one", "two", "three")]
    assert await world.bus.handle(AnyPendingRelays(platform="wechat", chat_id=OPENID))
    assert not await world.bus.handle(AnyPendingRelays(platform="wechat", chat_id="oW-other"))
    claimed = await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID))
    assert [i.relayed_message_id for i in claimed] == [p.relayed_message_id for p in plans]
    # A second worker (or a repeated event) gets nothing while the claim holds.
    assert await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID)) == ()
    plan, target = claimed[0].plan()
    assert (plan.order_number, plan.text, target.chat_id, target.mode) == (
        "YB00042", "one", OPENID, DeliveryMode.SEND)
    assert await world.bus.handle(MarkPendingDelivered(pending_id=claimed[0].id,
                                                       to_message_id="wx-relay-1-2"))
    assert not await world.bus.handle(MarkPendingDelivered(pending_id=claimed[0].id,
                                                           to_message_id="wx-relay-1-2"))
    [pair] = world.stores["relay_pairs"].pairs
    assert (pair.relayed_message_id, pair.to_user_id, pair.to_chat_id) == (
        plans[0].relayed_message_id, PROVIDER, OPENID)
    # A worker that stopped half-way: after its lease the rest can be claimed again.
    world.clock.advance(timedelta(minutes=6))
    again = await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID))
    assert [i.relayed_message_id for i in again] == [p.relayed_message_id for p in plans[1:]]


async def test_a_message_edited_while_it_waited_arrives_as_last_written(world: World) -> None:
    await world.accept()
    plan = await world.refused("see you at 8")
    await world.bus.handle(c.RouteEdit(sender_user_id=CUSTOMER, platform="telegram",
                                       chat_id="100", message_id=plan.message_id,
                                       text="see you at 9, call 13812345678"))
    [item] = await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID))
    assert item.text is not None and item.text.startswith("see you at 9")
    assert "13812345678" not in item.text


async def test_an_edit_refused_for_want_of_a_window_waits_too(world: World) -> None:
    await world.accept()
    plan = await world.bus.handle(c.RouteInbound(sender_user_id=CUSTOMER, platform="telegram",
                                                 chat_id="100", message_id="m1", text="at 8"))
    await world.bus.handle(c.RecordRelayed(
        relayed_message_id=plan.relayed_message_id, recipient_user_id=PROVIDER,
        to_platform="wechat", to_chat_id=OPENID, to_message_id="wx-relay-1-2"))
    edit = await world.bus.handle(c.RouteEdit(sender_user_id=CUSTOMER, platform="telegram",
                                              chat_id="100", message_id="m1", text="at 9"))
    [target] = edit.targets
    await world.bus.handle(QueueRefusedEdit(edit_id=edit.edit_id, recipient_user_id=target.user_id,
                                            failure="window_closed"))
    [item] = await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID))
    assert item.is_edit and item.mode is DeliveryMode.EDIT
    edit_plan, edit_target = item.edit_plan()
    assert (edit_plan.edit_id, edit_plan.text, edit_target.chat_id) == (edit.edit_id, "at 9", OPENID)
    [queued] = world.events(pending.RelayQueued)
    assert queued.first_for_recipient


async def test_a_failed_delivery_gives_the_rest_back_and_says_they_still_wait(
    world: World,
) -> None:
    await world.accept()
    for text in ("one", "two"):
        await world.refused(text)
    claimed = await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID))
    released = await world.bus.handle(ReleasePendingRelays(
        pending_ids=tuple(i.id for i in claimed), failure="quota"))
    assert released == 2
    assert [i.status for i in world.queue.rows.values()] == [PendingStatus.QUEUED] * 2
    [waiting] = world.events(pending.RelayQueueWaiting)
    [notice] = notices_for(waiting)
    assert (notice.recipient_user_id, notice.key, notice.params["count"]) == (
        PROVIDER, "notice.relay.queued_for_you", 2)
    again = await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID))
    assert [i.id for i in again] == [i.id for i in claimed]


async def test_a_message_that_keeps_failing_stops_blocking_the_queue(world: World) -> None:
    await world.accept()
    for text in ("broken photo", "two"):
        await world.refused(text)
    for _ in range(pending.MAX_ATTEMPTS):
        claimed = await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID))
        await world.bus.handle(ReleasePendingRelays(pending_ids=tuple(i.id for i in claimed),
                                                    failure="error"))
    first, second = world.queue.rows.values()
    assert (first.status, first.expiry_reason) == (PendingStatus.EXPIRED, "failed")
    assert second.status is PendingStatus.QUEUED and second.attempts == 0
    [expired] = world.events(pending.RelayQueueExpired)
    assert [n.key for n in notices_for(expired)] == ["notice.relay.undelivered"]


async def test_messages_waiting_too_long_expire_and_the_sender_hears_once(world: World) -> None:
    await world.accept()
    await world.refused("one")
    await world.refused("two")
    world.clock.advance(timedelta(days=6, hours=23))
    assert await world.bus.handle(ExpirePendingRelays()) == 0
    world.clock.advance(timedelta(hours=1))
    assert await world.bus.handle(ExpirePendingRelays()) == 2
    assert await world.bus.handle(ExpirePendingRelays()) == 0
    [expired] = world.events(pending.RelayQueueExpired)
    [notice] = notices_for(expired)
    assert (notice.recipient_user_id, notice.key, notice.params) == (
        CUSTOMER, "notice.relay.queue_expired", {"number": "YB00042", "count": 2, "days": 7})


async def test_a_claim_expires_what_waited_too_long_instead_of_sending_it(world: World) -> None:
    await world.accept()
    await world.refused("old")
    world.clock.advance(timedelta(days=7))
    await world.refused("new")
    claimed = await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID))
    assert [i.text for i in claimed] == ["new"]
    [expired] = world.events(pending.RelayQueueExpired)
    assert expired.reason == "too_old"


async def test_when_the_chat_closes_what_waited_in_it_expires(world: World) -> None:
    await world.accept()
    await world.refused("one")
    conversation = await world.stores["conversations"].for_order(42)
    conversation.close(NOW, "operator")
    uow = pending_uow(world.stores)
    await pending.expire_on_close(conversation.events[-1], uow, world.clock)
    await uow.commit()
    [item] = world.queue.rows.values()
    assert (item.status, item.expiry_reason) == (PendingStatus.EXPIRED, "closed")
    [expired] = world.events(pending.RelayQueueExpired)
    assert [n.key for n in notices_for(expired)] == ["notice.relay.queue_expired_closed"]
    assert await world.bus.handle(ClaimPendingRelays(platform="wechat", chat_id=OPENID)) == ()


async def test_operators_and_the_two_sides_can_list_what_waited(world: World) -> None:
    await world.accept()
    await world.refused("one")
    [item] = await world.bus.handle(ListPendingRelays(order_id=42, actor_id=OPERATOR))
    assert item.status is PendingStatus.QUEUED
    assert len(await world.bus.handle(ListPendingRelays(order_number="yb00042",
                                                        actor_id=CUSTOMER))) == 1
    with pytest.raises(Forbidden):
        await world.bus.handle(ListPendingRelays(order_id=42, actor_id=STRANGER))


def test_the_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        PendingPolicy(max_age=timedelta(0))
