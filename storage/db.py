"""Engines for SQLite (the default) and PostgreSQL, configured the same way everywhere.

SQLite runs in WAL mode with foreign keys on, and every transaction starts with
`BEGIN IMMEDIATE`: writers queue on the database lock (up to `busy_timeout`) instead of
failing half-way when a read transaction tries to upgrade to a write. That gives SQLite the
same "one writer wins, the other waits and re-reads" behaviour PostgreSQL gives us per row.
See https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Connection execution option: begin SQLite's transaction DEFERRED (a read-only unit of work).
DEFERRED_OPTION = "yueban_deferred"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    parsed = make_url(url)
    if parsed.get_driver_name() == "asyncpg" and "prepared_statement_cache_size" not in parsed.query:
        # The app has a few hundred distinct statements; asyncpg's default of 100 per
        # connection would keep re-preparing them (a round trip each time).
        parsed = parsed.update_query_dict({"prepared_statement_cache_size": "500"})
    # A fixed set of connections, and a queue for them when all are busy. Overflow
    # connections are closed when handed back while the pool is full, so under steady load
    # above the pool size every checkout opened a new one: a backend process, the driver's
    # type introspection and every statement prepared again (a round trip each). Nothing
    # holds one connection while taking another, so waiting for one cannot deadlock.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 0)
    # No pre-ping: it costs a round trip on every checkout. A connection found dead is
    # invalidated by SQLAlchemy and the unit of work turns that into a retry (see uow).
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(parsed, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(DEFERRED_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
