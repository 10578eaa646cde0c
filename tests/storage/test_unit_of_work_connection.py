"""When the unit of work takes, hands back and loses its connection.

A unit of work checks out only when it runs a statement, hands the connection back as soon as
it commits, and turns a connection found dead into a retry unless the commit was under way
(when nobody knows whether the transaction was kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime
from core.shared.clock import FixedClock
from core.shared.errors import AlreadyProcessed, ConcurrencyConflict
from core.shared.messages import Event
from storage.db import create_engine, is_sqlite
from storage.uow import SqlUnitOfWork


@dataclass(frozen=True, kw_only=True)
class Noted(Event):
    what: str


@pytest.fixture
def pool_traffic(engine: AsyncEngine) -> Iterator[list[str]]:
    """'out' and 'in' for every checkout and checkin of the engine's pool, in order."""
    seen: list[str] = []
    pool = engine.sync_engine.pool

    def checked_out(*_: object) -> None:
        seen.append("out")

    def checked_in(*_: object) -> None:
        seen.append("in")

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    yield seen
    event.remove(pool, "checkout", checked_out)
    event.remove(pool, "checkin", checked_in)


async def outbox_events(runtime: Runtime) -> list[str]:
    async with runtime.uow_factory() as uow:
        return [r.event.what for r in await uow.outbox.claim_batch(10)]  # type: ignore[attr-defined]


async def test_a_commit_hands_the_connection_back_before_the_unit_of_work_ends(
    runtime: Runtime, pool_traffic: list[str]
) -> None:
    async with runtime.uow_factory() as uow:
        uow.emit(Noted(what="first"))
        await uow.commit()
        assert pool_traffic == ["out", "in"]
    assert pool_traffic == ["out", "in"]
    assert await outbox_events(runtime) == ["first"]


async def test_what_is_written_after_a_commit_is_kept_only_by_another_commit(
    runtime: Runtime,
) -> None:
    now = runtime.clock.now()
    async with runtime.uow_factory() as uow:
        uow.emit(Noted(what="first"))
        await uow.commit()
        await uow.idempotency.claim("after-commit", now)
        uow.emit(Noted(what="second"))
        await uow.commit()
        await uow.idempotency.claim("never-committed", now)
    assert await outbox_events(runtime) == ["first", "second"]
    async with runtime.uow_factory() as uow:
        await uow.idempotency.claim("never-committed", now)  # still free
        with pytest.raises(AlreadyProcessed):
            await uow.idempotency.claim("after-commit", now)


async def test_a_query_on_postgresql_sees_each_commit_as_it_happens(
    runtime: Runtime, postgres_only: str
) -> None:
    # Read-only units of work run in autocommit there: no snapshot held between statements.
    async with SqlUnitOfWork(runtime.engine, runtime.clock, read_only=True) as query:
        assert await query.outbox.claim_batch(10) == []
        async with runtime.uow_factory() as uow:
            uow.emit(Noted(what="meanwhile"))
            await uow.commit()
        assert [r.event.what for r in await query.outbox.claim_batch(10)] == ["meanwhile"]  # type: ignore[attr-defined]


async def test_a_connection_a_query_used_is_transactional_again_for_the_next_command(
    database_url: str, clock: FixedClock
) -> None:
    # One connection, so the commands below get the one the queries had (in autocommit on
    # PostgreSQL): a command's uncommitted write must still be rolled back.
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with SqlUnitOfWork(engine, clock, read_only=True) as query:
            await query.connection.execute(sa.text("SELECT 1"))
        with pytest.raises(DBAPIError):
            async with SqlUnitOfWork(engine, clock, read_only=True) as query:
                await query.connection.execute(sa.text("SELECT * FROM no_such_table"))
        async with SqlUnitOfWork(engine, clock) as command:
            await command.idempotency.claim("left-uncommitted", clock.now())
        async with SqlUnitOfWork(engine, clock) as command:
            await command.idempotency.claim("left-uncommitted", clock.now())  # still free
    finally:
        await engine.dispose()


# -- a connection found dead (PostgreSQL: its server process is terminated) --------------


async def _kill_backend_of(uow: SqlUnitOfWork, database_url: str) -> None:
    pid = await uow.connection.scalar(sa.text("SELECT pg_backend_pid()"))
    killer = create_engine(database_url)
    try:
        async with killer.connect() as connection:
            await connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()


@pytest.fixture
def postgres_only(database_url: str) -> str:
    if is_sqlite(database_url):
        pytest.skip("needs a server whose connections can be terminated")
    return database_url


async def test_a_connection_that_dies_before_the_commit_makes_the_command_run_again(
    runtime: Runtime, postgres_only: str
) -> None:
    with pytest.raises(ConcurrencyConflict):
        async with runtime.uow_factory() as uow:
            await _kill_backend_of(uow, postgres_only)
            uow.emit(Noted(what="lost with the connection"))
            await uow.commit()
    assert await outbox_events(runtime) == []


async def test_a_connection_that_dies_during_the_commit_is_not_turned_into_a_retry(
    runtime: Runtime, postgres_only: str
) -> None:
    now = runtime.clock.now()
    with pytest.raises(DBAPIError) as raised:
        async with runtime.uow_factory() as uow:
            await uow.idempotency.claim("outcome-unknown", now)
            await _kill_backend_of(uow, postgres_only)
            await uow.commit()  # nothing left to write: the COMMIT is what fails
    assert raised.value.connection_invalidated
    # The pool dropped the dead connection: the next unit of work gets a live one (and the
    # server rolled back what it never saw committed).
    async with runtime.uow_factory() as uow:
        await uow.idempotency.claim("outcome-unknown", now)
