"""The unit of work: events reach the outbox with the change, or nothing happens at all."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import event

from app.bootstrap import Runtime
from core.identity.commands import GetUser, RegisterFromChannel
from core.shared.errors import AlreadyProcessed
from core.shared.messages import Event
from storage.uow import SqlUnitOfWork


@dataclass(frozen=True, kw_only=True)
class SomethingHappened(Event):
    what: str


async def test_committed_events_are_in_the_outbox(runtime: Runtime) -> None:
    async with runtime.uow_factory() as uow:
        uow.emit(SomethingHappened(what="booked"))
        await uow.commit()
    async with runtime.uow_factory() as uow:
        records = await uow.outbox.claim_batch(10)
    assert [type(r.event) for r in records] == [SomethingHappened]
    assert records[0].event.what == "booked"  # type: ignore[attr-defined]


async def test_leaving_without_commit_writes_nothing(runtime: Runtime) -> None:
    async with runtime.uow_factory() as uow:
        uow.emit(SomethingHappened(what="lost"))
        await uow.idempotency.claim("k-1", runtime.clock.now())
    async with runtime.uow_factory() as uow:
        assert await uow.outbox.claim_batch(10) == []
        await uow.idempotency.claim("k-1", runtime.clock.now())  # still free


async def test_an_idempotency_key_is_claimed_once(runtime: Runtime) -> None:
    async with runtime.uow_factory() as uow:
        await uow.idempotency.claim("tg:cb:42", runtime.clock.now())
        await uow.commit()
    with pytest.raises(AlreadyProcessed):
        async with runtime.uow_factory() as uow:
            await uow.idempotency.claim("tg:cb:42", runtime.clock.now())


async def test_dispatched_outbox_rows_are_not_claimed_again(runtime: Runtime) -> None:
    async with runtime.uow_factory() as uow:
        uow.emit(SomethingHappened(what="a"))
        uow.emit(SomethingHappened(what="b"))
        await uow.commit()
    async with runtime.uow_factory() as uow:
        first = await uow.outbox.claim_batch(1)
        await uow.outbox.mark_dispatched([r.id for r in first], runtime.clock.now())
        await uow.commit()
    async with runtime.uow_factory() as uow:
        rest = await uow.outbox.claim_batch(10)
    assert [r.event.what for r in rest] == ["b"]  # type: ignore[attr-defined]


@dataclass(frozen=True, kw_only=True)
class Renamed(Event):
    name: str


async def test_an_event_with_a_field_called_name_keeps_its_type(runtime: Runtime) -> None:
    async with runtime.uow_factory() as uow:
        uow.emit(Renamed(name="Ann"))
        await uow.commit()
    async with runtime.uow_factory() as uow:
        records = await uow.outbox.claim_batch(10)
    assert isinstance(records[0].event, Renamed)
    assert records[0].event.name == "Ann"  # type: ignore[attr-defined]


async def test_a_query_is_answered_while_a_writer_holds_its_transaction(runtime: Runtime) -> None:
    # On SQLite every write transaction takes the database lock up front (BEGIN IMMEDIATE);
    # a query must not queue behind it, nor see what it has not committed.
    user = await runtime.bus.handle(RegisterFromChannel(
        platform="telegram", external_id="501", chat_id="501", display_name="Ann"))
    async with runtime.uow_factory() as writer:
        await writer.idempotency.claim("held", runtime.clock.now())
        found = await asyncio.wait_for(runtime.bus.handle(GetUser(user_id=user.id)), timeout=5)
        assert found.display_name == "Ann"
        await writer.commit()


async def test_a_read_only_unit_of_work_refuses_to_commit_events(runtime: Runtime) -> None:
    async with SqlUnitOfWork(runtime.engine, runtime.clock, read_only=True) as uow:
        uow.emit(SomethingHappened(what="sneaked"))
        with pytest.raises(RuntimeError, match="query emitted events"):
            await uow.commit()
    async with runtime.uow_factory() as uow:
        assert await uow.outbox.claim_batch(10) == []


async def test_a_unit_of_work_takes_a_connection_only_when_it_runs_a_statement(
    runtime: Runtime,
) -> None:
    checkouts: list[object] = []
    pool = runtime.engine.sync_engine.pool

    def count(*_: object) -> None:
        checkouts.append(object())

    event.listen(pool, "checkout", count)
    try:
        async with runtime.uow_factory() as uow:
            await uow.commit()  # decided without the database: nothing to check out
        assert checkouts == []
        async with runtime.uow_factory() as uow:
            uow.emit(SomethingHappened(what="written"))
            await uow.commit()
        assert len(checkouts) == 1
    finally:
        event.remove(pool, "checkout", count)
    async with runtime.uow_factory() as uow:
        assert [r.event.what for r in await uow.outbox.claim_batch(10)] == ["written"]  # type: ignore[attr-defined]
