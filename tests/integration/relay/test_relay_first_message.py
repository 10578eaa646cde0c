"""The first message of each side after an order is accepted, on both databases: it costs
what a routine message does (the conversation knows where both sides write from, and with
the route cache both routes are remembered when it opens), and it is refused, delivered and
masked exactly as before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.bootstrap import Runtime, bootstrap
from core.booking import commands as b
from core.identity.commands import BanUser, SetLocale
from core.relay import commands as r
from core.relay.routing import NoActiveConversation
from core.shared.errors import DomainError
from tests.integration.relay.conftest import RelayWorld
from tests.integration.relay.test_hot_path import Statements
from tests.unit.booking.fakes import FakePayments


def _journal(world: RelayWorld) -> Any:
    return world.runtime.bus.dependencies.get("relay_journal")


def _other_process(world: RelayWorld) -> Runtime:
    """Another runtime on the same database, with caches of its own (the admin console)."""
    return bootstrap(world.runtime.settings, clock=world.clock, engine=world.runtime.engine,
                     overrides={"directory": world.directory, "payments": FakePayments()})


async def test_the_first_message_of_each_side_costs_what_a_routine_one_does(
        world: RelayWorld) -> None:
    await world.accepted_order()
    statements = Statements(world.runtime)
    try:
        await world.send(world.customer, "你好")
        first_of_customer = [s.split(",")[0] for s in statements.seen]
        statements.seen.clear()
        await world.send(world.provider, "你好，收到")
        first_of_provider = [s.split(",")[0] for s in statements.seen]
    finally:
        statements.close()
    if _journal(world) is not None:
        # The route is remembered from the opening: the transcript row is all it writes.
        expected = ["INSERT INTO RELAY_MESSAGES"]
    else:
        # SQLite: the unit of work reads the sender, then their open conversations with
        # everyone in them (one statement), and stores the row. No address to write, and the
        # recipient is reached where the conversation says without looking them up.
        expected = ["BEGIN IMMEDIATE", "SELECT USERS.ID", "SELECT C.ID",
                    "INSERT INTO RELAY_MESSAGES"]
    assert first_of_customer == expected
    assert first_of_provider == expected


async def test_the_first_message_reaches_the_other_side_with_contacts_masked(
        world: RelayWorld) -> None:
    order = await world.accepted_order()
    plan = await world.send(world.customer, "加我微信 zhang_88，电话 13812345678")
    assert plan.leak_count >= 2 and "13812345678" not in (plan.text or "")
    assert "zhang_88" not in (plan.text or "")
    [target] = plan.targets
    assert (target.user_id, target.platform, target.chat_id, target.locale) == (
        world.provider.id, world.provider.platform, world.provider.chat_id, "zh")
    answer = await world.send(world.provider, "好的，明天见")
    assert [(t.user_id, t.chat_id) for t in answer.targets] == [
        (world.customer.id, world.customer.chat_id)]
    transcript = await world.bus.handle(r.GetTranscript(order_id=order.id))
    assert [e.sender_id for e in transcript.entries] == [world.customer.id, world.provider.id]
    assert "13812345678" not in (transcript.entries[0].text or "")


async def test_a_sender_banned_before_their_first_message_is_refused(world: RelayWorld) -> None:
    await world.accepted_order()
    await world.bus.handle(BanUser(user_id=world.customer.id, reason="spam"))
    with pytest.raises(DomainError) as refused:
        await world.send(world.customer, "你好")
    assert refused.value.key == "error.user.banned"
    await world.send(world.provider, "你好")  # the other side still talks


async def test_a_chat_closed_before_the_first_message_refuses_it(world: RelayWorld) -> None:
    order = await world.accepted_order()
    await world.complete(order)
    world.clock.advance(timedelta(hours=25))
    assert await world.bus.handle(r.CloseIdleConversations()) == 1
    with pytest.raises(NoActiveConversation):
        await world.send(world.customer, "还在吗")


async def test_a_chat_closed_by_another_process_refuses_the_first_message(
        world: RelayWorld) -> None:
    order = await world.accepted_order()
    await world.complete(order)
    world.clock.advance(timedelta(hours=25))
    console = _other_process(world)  # its cache is not ours: our remembered route is stale
    assert await console.bus.handle(r.CloseIdleConversations()) == 1
    with pytest.raises(NoActiveConversation):
        await world.send(world.provider, "还在吗")
    transcript = await world.bus.handle(r.GetTranscript(order_id=order.id))
    assert transcript.entries == ()


async def test_a_new_provider_after_a_reassignment_is_reached_at_once(world: RelayWorld) -> None:
    order = await world.accepted_order()
    await world.bus.handle(b.ReassignOrder(order_id=order.id, provider_id=world.other_provider.id,
                                           reason="provider ill"))
    await world.bus.handle(b.AcceptOrder(actor_id=world.other_provider.id, order_id=order.id))
    plan = await world.send(world.customer, "你好，新师傅")
    assert [(t.user_id, t.platform, t.chat_id) for t in plan.targets] == [
        (world.other_provider.id, "wechat", world.other_provider.chat_id)]


async def test_messages_for_someone_follow_the_language_they_switch_to(
        world: RelayWorld) -> None:
    await world.accepted_order()
    await world.send(world.customer, "你好")  # both routes are remembered and in use
    await world.bus.handle(SetLocale(user_id=world.provider.id, locale="en"))
    plan = await world.send(world.customer, "在吗")
    assert [t.locale for t in plan.targets] == ["en"]
    await world.send(world.provider, "hello")
    await world.bus.handle(SetLocale(user_id=world.provider.id, locale="zh"))
    plan = await world.send(world.customer, "明天见")
    assert [t.locale for t in plan.targets] == ["zh"]
