"""Every migration upgrades, downgrades and upgrades again; the result matches the tables."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage import migrate
from storage.db import create_engine
from storage.tables import metadata
from tests.conftest import _reset_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'stairway.db'}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_reset_postgres(url))
    return url


def test_every_revision_goes_up_down_and_up_again(empty_database: str) -> None:
    revisions = list(migrate.revisions_base_to_head())
    assert revisions, "no migrations found"
    previous = "base"
    for revision in revisions:
        migrate.upgrade(empty_database, revision)
        migrate.downgrade(empty_database, previous)
        migrate.upgrade(empty_database, revision)
        assert migrate.current(empty_database).startswith(revision)
        previous = revision
    migrate.downgrade(empty_database, "base")
    assert migrate.current(empty_database) == ""
    migrate.upgrade(empty_database, "head")


def test_migrated_schema_matches_the_table_definitions(empty_database: str) -> None:
    migrate.upgrade(empty_database, "head")

    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, metadata)

    async def run() -> list:  # type: ignore[type-arg]
        engine = create_engine(empty_database)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(diff)
        finally:
            await engine.dispose()

    differences = asyncio.run(run())
    assert differences == [], f"migrations and storage/tables disagree: {differences}"
