"""Shared fixtures: a migrated database on SQLite and (when configured) PostgreSQL, Redis.

Integration tests take `database_url`, parametrized over both databases. PostgreSQL runs when
`YUEBAN_TEST_DATABASE_URL` is set; Redis tests when `YUEBAN_TEST_REDIS_URL` is set. Without
them those tests skip, saying how to enable them. Under `CI=true` a missing or unreachable
server fails the run instead: it is never skipped silently there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime, bootstrap
from app.settings import Settings
from core.shared.clock import FixedClock
from storage import migrate
from storage.db import create_engine

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_URL = os.environ.get("YUEBAN_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("YUEBAN_TEST_REDIS_URL")

PG_HOWTO = (
    "PostgreSQL tests skipped: set YUEBAN_TEST_DATABASE_URL="
    "postgresql+asyncpg://postgres@127.0.0.1:5432/test to run them"
)
REDIS_HOWTO = (
    "Redis tests skipped: set YUEBAN_TEST_REDIS_URL=redis://127.0.0.1:6379/0 to run them"
)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required services must be reachable)", pytrace=False)
    pytest.skip(reason)


async def _pg_reachable(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("select 1"))
        return None
    except Exception as exc:  # any failure to connect means "unreachable"
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not PG_URL:
        _unavailable(PG_HOWTO)
    assert PG_URL
    problem = asyncio.run(_pg_reachable(PG_URL))
    if problem:
        _unavailable(f"PostgreSQL at YUEBAN_TEST_DATABASE_URL is unreachable: {problem}")
    # Start from an empty schema, then migrate once for the whole session.
    asyncio.run(_reset_postgres(PG_URL))
    migrate.upgrade(PG_URL, "head")
    return PG_URL


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(sa.text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not REDIS_URL:
        _unavailable(REDIS_HOWTO)
    assert REDIS_URL
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:
        _unavailable(f"Redis at YUEBAN_TEST_REDIS_URL is unreachable: {exc}")
    return REDIS_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy (fast and isolated)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}", "head")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "yueban.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url: str = request.getfixturevalue("postgres_url")
        asyncio.run(_truncate_all(url))
        yield url


# Empty only the tables a test wrote to, and restart every used sequence, in one round trip:
# TRUNCATE of every table costs about a second per test; most tests touch a handful.
_RESET_POSTGRES = """
DO $$
DECLARE
    t record;
    used text := '';
    has_rows boolean;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', t.tablename) INTO has_rows;
        IF has_rows THEN
            used := used || format('%I,', t.tablename);
        END IF;
    END LOOP;
    IF used <> '' THEN
        EXECUTE 'TRUNCATE ' || rtrim(used, ',') || ' CASCADE';
    END IF;
    FOR t IN SELECT sequencename FROM pg_sequences
             WHERE schemaname = 'public' AND last_value IS NOT NULL LOOP
        EXECUTE format('SELECT setval(%L, 1, false)', t.sequencename);
    END LOOP;
END $$;
"""


async def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(_RESET_POSTGRES))
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, mode="demo", database_url=database_url)  # type: ignore[call-arg]


@pytest.fixture
async def runtime(settings: Settings, engine: AsyncEngine, clock: FixedClock) -> Runtime:
    return bootstrap(settings, clock=clock, engine=engine)
