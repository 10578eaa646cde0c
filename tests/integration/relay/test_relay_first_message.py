"""The first message of each side after an order is accepted, on both databases: it costs
what a routine message does (the conversation knows where both sides write from, and with
the route cache both routes are remembered when it opens), and it is refused, delivered and
masked exactly as before."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from app.bootstrap import Runtime, bootstrap
from core.booking import commands as b
from core.identity.commands import BanUser, SetLocale
from core.relay import commands as r
from core.relay.routing import NoActiveConversation
from core.shared.errors import DomainError
from tests.integration.relay.conftest import ONLINE, Person, RelayWorld, _register
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


async def test_chats_opened_side_by_side_route_every_message_from_memory(
        world: RelayWorld) -> None:
    """As on a busy server: several orders are accepted at once, then both sides of each
    chat write straight away. Every opening forgets what it changes while the other chats'
    routes are being read; none of that is about those chats, so their messages, the first
    ones included, still read nothing."""
    pairs = [(world.customer, world.provider), (world.stranger, world.other_provider)]
    offers = [11, 13]
    for n in range(4):
        customer = await _register(world.runtime, "telegram", f"310{n}")
        provider = await _register(world.runtime, "telegram", f"320{n}", "provider")
        world.directory.add_person(customer.id)
        world.directory.add_provider(provider.id, offer_id=300 + n, category_id=ONLINE)
        pairs.append((customer, provider))
        offers.append(300 + n)
    start = world.clock.now().replace(hour=10, minute=0) + timedelta(days=2)

    async def accept(customer: Person, provider: Person, offer_id: int) -> None:
        order = await world.bus.handle(b.BookOrder(actor_id=customer.id, offer_id=offer_id,
                                                   units=1, start=start))
        await world.bus.handle(b.PayOrder(actor_id=customer.id, order_id=order.id))
        await world.bus.handle(b.AcceptOrder(actor_id=provider.id, order_id=order.id))

    async def talk(customer: Person, provider: Person) -> list[tuple[int, int]]:
        reached = []
        for turn in range(4):
            for sender, recipient in ((customer, provider), (provider, customer)):
                plan = await world.send(sender, f"第 {turn} 句")
                reached += [(sender.id, t.user_id) for t in plan.targets
                            if (t.platform, t.chat_id) == (recipient.platform, recipient.chat_id)]
        return reached

    await asyncio.gather(*(accept(customer, provider, offer)
                           for (customer, provider), offer in zip(pairs, offers, strict=True)))
    statements = Statements(world.runtime)
    try:
        chats = await asyncio.gather(*(talk(customer, provider) for customer, provider in pairs))
    finally:
        statements.close()
    for (customer, provider), reached in zip(pairs, chats, strict=True):
        assert reached == [(customer.id, provider.id), (provider.id, customer.id)] * 4
    messages, seen = 8 * len(pairs), [s.split(",")[0] for s in statements.seen]
    if _journal(world) is not None:
        # Not one message read its sender or their conversations: every route was remembered
        # when its chat opened. The rows went in as routine ones, several to an INSERT.
        assert set(seen) == {"INSERT INTO RELAY_MESSAGES"}
        assert len(seen) <= messages
    else:  # SQLite: every message reads its route in its unit of work and stores its row
        assert sorted(seen) == sorted(
            ["BEGIN IMMEDIATE", "SELECT USERS.ID", "SELECT C.ID",
             "INSERT INTO RELAY_MESSAGES"] * messages)


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
