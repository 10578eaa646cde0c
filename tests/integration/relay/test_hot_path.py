"""The relay's hot path on both databases: routes remembered between messages, transcript rows
stored before delivery, delivered copies written behind (PostgreSQL), and nothing of that
visible to people: replies, edits and transcripts right after a delivery, changes made by
another process, and the last copies at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from app.bootstrap import Runtime, bootstrap
from core.identity.commands import BanUser
from core.relay import commands as r
from core.relay.model import DeliveryMode
from core.shared.errors import DomainError
from tests.integration.relay.conftest import RelayWorld
from tests.unit.booking.fakes import FakePayments


class Statements:
    """SQL statements the runtime issues (its own engine and the journal's)."""

    def __init__(self, runtime: Runtime) -> None:
        self.engines = [runtime.engine.sync_engine]
        journal = runtime.bus.dependencies.get("relay_journal")
        if journal is not None:
            self.engines.append(journal.engine.sync_engine)
        self.seen: list[str] = []
        for engine in self.engines:
            sa.event.listen(engine, "before_cursor_execute", self._statement)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(" ".join(statement.split()[:3]).upper())  # "INSERT INTO relay_pairs"

    def close(self) -> None:
        for engine in self.engines:
            sa.event.remove(engine, "before_cursor_execute", self._statement)


def _other_process(world: RelayWorld) -> Runtime:
    """Another runtime on the same database: its own caches, like a second worker or the
    admin console."""
    return bootstrap(world.runtime.settings, clock=world.clock, engine=world.runtime.engine,
                     overrides={"directory": world.directory, "payments": FakePayments()})


def _journal(world: RelayWorld) -> Any:
    return world.runtime.bus.dependencies.get("relay_journal")


async def test_a_chat_in_full_swing_costs_at_most_one_statement_per_message(
        world: RelayWorld) -> None:
    await world.accepted_order()
    for text in ("你好", "在吗"):  # the first says where each writes from; the next is routine
        await world.send_and_deliver(world.customer, text)
        await world.send_and_deliver(world.provider, text)
    statements = Statements(world.runtime)
    try:
        for n in range(10):
            await world.send_and_deliver(world.customer if n % 2 else world.provider, f"第 {n} 条")
    finally:
        statements.close()
    if _journal(world) is not None:
        # One INSERT of the transcript row each; the copies go together, a little later.
        assert statements.seen.count("INSERT INTO RELAY_MESSAGES") == 10
        assert set(statements.seen) <= {"INSERT INTO RELAY_MESSAGES", "INSERT INTO RELAY_PAIRS"}
        assert statements.seen.count("INSERT INTO RELAY_PAIRS") < 10  # fewer than copies
    else:  # SQLite: the unit of work reads the route and writes both rows
        assert statements.seen.count("INSERT INTO RELAY_MESSAGES") == 10
        assert statements.seen.count("INSERT INTO RELAY_PAIRS") == 10


async def test_copies_written_behind_are_found_by_replies_edits_and_the_transcript(
        world: RelayWorld) -> None:
    order = await world.accepted_order()
    original, copies = await world.send_and_deliver(world.customer, "第一条")
    # Answered at once, before the copy's row is due: the reply still threads under it.
    reply = await world.send(world.provider, "收到", reply_to=copies[world.provider.id])
    assert reply.targets[0].reply_to_message_id == original.message_id
    edit = await world.bus.handle(r.RouteEdit(
        sender_user_id=world.customer.id, platform="telegram", chat_id=world.customer.chat_id,
        message_id=original.message_id, text="第一条（改）"))
    assert [(t.user_id, t.message_id, t.mode) for t in edit.targets] == [
        (world.provider.id, copies[world.provider.id], DeliveryMode.EDIT)]
    transcript = await world.bus.handle(r.GetTranscript(order_id=order.id))
    assert transcript.entries[0].delivered_to == (world.provider.id,)


async def test_an_operator_who_joined_elsewhere_gets_the_next_message(
        world: RelayWorld) -> None:
    order = await world.accepted_order()
    await world.send_and_deliver(world.customer, "你好")
    await world.send_and_deliver(world.customer, "在吗")  # the route is remembered now
    console = _other_process(world)
    await console.bus.handle(r.JoinConversation(actor_id=world.operator.id, order_id=order.id))
    plan = await world.send(world.customer, "我要投诉")
    assert {t.user_id for t in plan.targets} == {world.provider.id, world.operator.id}
    transcript = await world.bus.handle(r.GetTranscript(order_id=order.id))
    assert [e.text for e in transcript.entries] == ["你好", "在吗", "我要投诉"]


async def test_a_leak_right_after_a_remembered_route_is_struck_once(world: RelayWorld) -> None:
    await world.accepted_order()
    await world.send_and_deliver(world.provider, "你好")
    await world.send_and_deliver(world.provider, "好的")
    plan = await world.send(world.provider, "加我微信 zhang_88")
    assert plan.leak_count == 1
    async with world.runtime.uow_factory() as uow:
        assert (await uow.users.get(world.provider.id)).strikes == 1


async def test_closing_the_runtime_writes_the_last_copies(world: RelayWorld) -> None:
    await world.accepted_order()
    plan, copies = await world.send_and_deliver(world.customer, "最后一条")
    journal = _journal(world)
    if journal is not None:
        await journal.close()  # what Runtime.close does before letting the database go
    async with _other_process(world).uow_factory() as uow:
        [pair] = await uow.relay_pairs.of_message(plan.relayed_message_id)
    assert pair.to_message_id == copies[world.provider.id]


async def test_a_flush_returns_once_its_copies_are_written_however_busy_the_journal(
        world: RelayWorld) -> None:
    journal = _journal(world)
    if journal is None:
        return  # SQLite writes copies in the unit of work: nothing waits to be flushed
    await world.accepted_order()
    plan, copies = await world.send_and_deliver(world.customer, "第一条")
    busy = True

    async def chatter() -> None:
        n = 0
        while busy:
            n += 1
            await world.send(world.provider, f"忙 {n}")

    talking = asyncio.create_task(chatter())
    try:
        await asyncio.wait_for(journal.flush(), timeout=10)
    finally:
        busy = False
        await talking
    async with world.runtime.uow_factory() as uow:
        [pair] = await uow.relay_pairs.of_message(plan.relayed_message_id)
    assert pair.to_message_id == copies[world.provider.id]


async def test_a_sender_banned_meanwhile_is_refused_at_the_next_message(world: RelayWorld) -> None:
    await world.accepted_order()
    await world.send_and_deliver(world.customer, "你好")
    await world.send_and_deliver(world.customer, "在吗")  # the route is remembered now
    await world.bus.handle(BanUser(user_id=world.customer.id, reason="spam"))
    with pytest.raises(DomainError) as refused:
        await world.send(world.customer, "还在吗")
    assert refused.value.key == "error.user.banned"
