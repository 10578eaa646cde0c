"""Safety and evidence through the bus on both databases: strikes and their thresholds, SOS
with the last shared location, an operator joining a dispute, and the transcript."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from core.booking import commands as b
from core.identity.model import UserStatus
from core.relay import commands as r
from core.relay.model import Location, ParticipantRole
from core.relay.policy import RelayPolicy
from core.shared.clock import FixedClock
from core.shared.errors import DomainError, Forbidden
from tests.integration.relay.conftest import RelayWorld, make_world

HOME = Location(31.2304, 121.4737)
STREET = Location(31.2310, 121.4740)


async def test_leak_warnings_come_before_strikes_and_a_ban_at_the_threshold(
    settings: Settings, engine: AsyncEngine, clock: FixedClock
) -> None:
    policy = RelayPolicy(leak_warnings=1, strikes_per_message=2, ban_at_strikes=3, ban_days=7)
    world = await make_world(settings, engine, clock, policy)
    await world.accepted_order()
    await world.send(world.customer, "加我vx abc_123")  # the warning
    async with world.runtime.uow_factory() as uow:
        assert (await uow.users.get(world.customer.id)).strikes == 0
    await world.send(world.customer, "电话 13812345678 或 qq 12345678")  # two leaks, two strikes
    await world.send(world.customer, "还是不给吗 t.me/abcde")  # the third strike bans
    async with world.runtime.uow_factory() as uow:
        customer = await uow.users.get(world.customer.id)
    assert customer.strikes == 3
    assert customer.status_at(clock.now()) is UserStatus.BANNED
    assert customer.banned_until == clock.now() + timedelta(days=7)
    leaks = await world.events("ContactLeakMasked")
    assert [(e.struck, e.strikes) for e in leaks] == [(0, None), (2, 2), (1, 3)]  # type: ignore[attr-defined]
    with pytest.raises(DomainError) as banned:
        await world.send(world.customer, "hello")
    assert banned.value.key == "error.user.banned"


async def test_sos_in_an_on_site_order_carries_the_last_shared_location(world: RelayWorld) -> None:
    order = await world.accepted_order(on_site=True)
    await world.send(world.customer, kind="location", location=HOME)
    alert = await world.bus.handle(r.RaiseSos(sender_user_id=world.customer.id, order_id=order.id))
    assert (alert.order_number, alert.raised_by_role) == (order.number, "customer")
    assert (alert.customer_id, alert.provider_id) == (world.customer.id, world.provider.id)
    assert (alert.latitude, alert.longitude, alert.location_source) == (31.2304, 121.4737, "shared")
    [raised] = await world.events("SosRaised")
    assert raised.event_id == alert.event_id


async def test_a_moving_live_location_updates_what_sos_reports(world: RelayWorld) -> None:
    order = await world.accepted_order(on_site=True)
    plan = await world.send(world.provider, kind="live_location", location=HOME)
    await world.deliver(plan)
    moved = await world.bus.handle(r.RouteEdit(
        sender_user_id=world.provider.id, platform="telegram", chat_id=world.provider.chat_id,
        message_id=plan.message_id, location=STREET))
    assert [t.user_id for t in moved.targets] == [world.customer.id]
    alert = await world.bus.handle(r.RaiseSos(sender_user_id=world.provider.id, order_id=order.id))
    assert (alert.latitude, alert.longitude) == (STREET.latitude, STREET.longitude)
    sent_with = await world.bus.handle(r.RaiseSos(sender_user_id=world.customer.id,
                                                  order_id=order.id, location=HOME))
    assert sent_with.location_source == "sos"


async def test_sos_is_refused_in_an_online_order_and_for_strangers(world: RelayWorld) -> None:
    order = await world.accepted_order()
    with pytest.raises(DomainError) as online:
        await world.bus.handle(r.RaiseSos(sender_user_id=world.customer.id, order_id=order.id))
    assert online.value.key == "error.relay.sos_not_in_person"
    on_site = await world.accepted_order(on_site=True)
    with pytest.raises(Forbidden):
        await world.bus.handle(r.RaiseSos(sender_user_id=world.stranger.id, order_id=on_site.id))
    assert await world.events("SosRaised") == []


async def test_an_operator_joins_a_dispute_and_both_sides_hear_them(world: RelayWorld) -> None:
    order = await world.accepted_order()
    await world.complete(order)
    world.clock.advance(timedelta(hours=30))
    await world.bus.handle(r.CloseIdleConversations())
    await world.bus.handle(b.OpenDispute(actor_id=world.customer.id, order_id=order.id,
                                         reason="陪玩迟到一小时"))
    with pytest.raises(Forbidden):
        await world.bus.handle(r.JoinConversation(actor_id=world.stranger.id, order_id=order.id))
    joined = await world.bus.handle(r.JoinConversation(actor_id=world.operator.id,
                                                       order_id=order.id))
    assert joined.role is ParticipantRole.OPERATOR and joined.current
    [event] = await world.events("OperatorJoined")
    assert (event.customer_id, event.provider_id) == (world.customer.id, world.provider.id)  # type: ignore[attr-defined]
    reopened = [e.reason for e in await world.events("ConversationOpened")]  # type: ignore[attr-defined]
    assert reopened == ["accepted", "dispute"]
    plan = await world.send(world.operator, "双方好，我是客服，请说明情况")
    assert sorted(t.user_id for t in plan.targets) == sorted([world.customer.id, world.provider.id])
    from_customer = await world.send(world.customer, "他迟到了")
    assert {t.role for t in from_customer.targets} == {ParticipantRole.PROVIDER,
                                                       ParticipantRole.OPERATOR}
    with pytest.raises(DomainError) as twice:
        await world.bus.handle(r.JoinConversation(actor_id=world.operator.id, order_id=order.id))
    assert twice.value.key == "error.relay.already_joined"


async def test_the_transcript_keeps_every_message_masked_for_operators_and_parties(world: RelayWorld) -> None:
    order = await world.accepted_order()
    first, _ = await world.send_and_deliver(world.customer, "你好，我的电话 13812345678")
    await world.send_and_deliver(world.provider, "收到", reply_to=None)
    await world.send(world.customer, "门口照片", kind="photo", files=("AgAC-1",))
    await world.bus.handle(r.RouteEdit(
        sender_user_id=world.customer.id, platform="telegram", chat_id=world.customer.chat_id,
        message_id=first.message_id, text="你好"))
    transcript = await world.bus.handle(r.GetTranscript(order_number=order.number.lower()))
    assert transcript.order_id == order.id
    shown = [(e.sender_role.value, e.kind.value, e.rendered("[hidden]"), e.leak_kinds, e.edit_of)
             for e in transcript.entries]
    assert shown == [
        ("customer", "text", "你好，我的电话 [hidden]", ("phone",), None),
        ("provider", "text", "收到", (), None),
        ("customer", "photo", "门口照片", (), None),
        ("customer", "text", "你好", (), transcript.entries[0].id),
    ]
    assert transcript.entries[0].delivered_to == (world.provider.id,)
    assert transcript.entries[2].files == ("AgAC-1",)
    as_party = await world.bus.handle(r.GetTranscript(actor_id=world.provider.id,
                                                      order_id=order.id))
    assert len(as_party.entries) == 4
    as_operator = await world.bus.handle(r.GetTranscript(actor_id=world.operator.id,
                                                         order_id=order.id))
    assert len(as_operator.entries) == 4
    with pytest.raises(Forbidden):
        await world.bus.handle(r.GetTranscript(actor_id=world.stranger.id, order_id=order.id))
    with pytest.raises(DomainError) as missing:
        await world.bus.handle(r.GetTranscript(order_id=order.id + 1000))
    assert missing.value.key == "error.relay.conversation_not_found"
