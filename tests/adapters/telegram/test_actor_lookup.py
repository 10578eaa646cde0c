"""Who is acting costs a returning person one read and no write transaction; a first contact
still registers them in the language of their Telegram client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiogram.types import Update, User
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime
from bots.telegram.middlewares import Actor, ActorCache, ActorMiddleware
from core.identity.commands import GetUser

# What the database is asked for a person it already knows: on PostgreSQL the read runs in
# autocommit, so no BEGIN and no COMMIT round trip (was BEGIN, the read, COMMIT); SQLite
# reads in a deferred transaction it ends without a commit (was BEGIN IMMEDIATE and COMMIT).
KNOWN = {
    "postgresql": {"statements": 1, "begin": 0, "commit": 0},
    "sqlite": {"statements": 2, "begin": 0, "commit": 0},
}


@contextmanager
def round_trips(engine: AsyncEngine) -> Iterator[dict[str, Any]]:
    """Statements, and the BEGIN/COMMIT a PostgreSQL transaction costs on top of them (SQLite's
    BEGIN is itself a statement; a connection in autocommit sends neither)."""
    seen: dict[str, Any] = {"statements": [], "begin": 0, "commit": 0}
    postgresql = engine.dialect.name == "postgresql"

    def transactional(conn: Any) -> bool:
        return conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT"

    def statement(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        seen["statements"].append(" ".join(text.split()))

    def begin(conn: Any) -> None:
        if postgresql and transactional(conn):
            seen["begin"] += 1

    def commit(conn: Any) -> None:
        if transactional(conn):
            seen["commit"] += 1

    listeners = [("before_cursor_execute", statement), ("begin", begin), ("commit", commit)]
    for name, listener in listeners:
        event.listen(engine.sync_engine, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners:
            event.remove(engine.sync_engine, name, listener)


async def _actor_of(middleware: ActorMiddleware, telegram_user: User) -> Actor:
    seen: dict[str, Any] = {}

    async def handler(_event: Any, data: dict[str, Any]) -> None:
        seen.update(data)

    await middleware(handler, Update(update_id=1), {"event_from_user": telegram_user})
    actor: Actor = seen["actor"]
    assert seen["locale"] == actor.locale
    return actor


async def test_a_returning_person_costs_one_read_and_no_write_transaction(
    runtime: Runtime, engine: AsyncEngine
) -> None:
    ann = User(id=7001, is_bot=False, first_name="Ann", language_code="zh-hans")
    first = await _actor_of(ActorMiddleware(runtime.bus, ActorCache()), ann)

    # Another worker, or this one a minute later: nothing cached.
    with round_trips(engine) as seen:
        again = await _actor_of(ActorMiddleware(runtime.bus, ActorCache()), ann)

    counted = {**seen, "statements": len(seen["statements"])}
    assert counted == KNOWN[engine.dialect.name], seen
    assert again == first


async def test_a_first_contact_registers_in_the_clients_language(runtime: Runtime) -> None:
    middleware = ActorMiddleware(runtime.bus, ActorCache())
    bo = User(id=7002, is_bot=False, first_name="Bo", last_name="Li", language_code="en-GB")

    actor = await _actor_of(middleware, bo)

    assert (actor.locale, actor.display_name, actor.telegram_id) == ("en", "Bo Li", 7002)
    view = await runtime.bus.handle(GetUser(user_id=actor.user_id))
    assert [(a.platform, a.external_id, a.chat_id) for a in view.accounts] == [
        ("telegram", "7002", "7002")
    ]


async def test_a_later_contact_keeps_the_name_and_language_first_registered(
    runtime: Runtime,
) -> None:
    first = await _actor_of(ActorMiddleware(runtime.bus, ActorCache()),
                            User(id=7003, is_bot=False, first_name="Cai", language_code="zh"))
    later = await _actor_of(ActorMiddleware(runtime.bus, ActorCache()),
                            User(id=7003, is_bot=False, first_name="Renamed", language_code="en"))
    assert later == first
    assert (later.display_name, later.locale) == ("Cai", "zh")
