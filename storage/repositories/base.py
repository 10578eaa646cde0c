"""Helpers shared by the SQL repositories: dialect-aware upserts and version-checked saves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.shared.errors import ConcurrencyConflict

if TYPE_CHECKING:
    from storage.uow import SqlUnitOfWork


class SqlRepository:
    def __init__(self, connection: AsyncConnection, uow: SqlUnitOfWork) -> None:
        self.connection = connection
        self.uow = uow

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name

    def insert(self, table: sa.Table) -> Any:
        """An INSERT that supports `.on_conflict_do_nothing()` on both databases."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def for_update(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """Row lock on PostgreSQL; SQLite already holds the database lock (BEGIN IMMEDIATE)."""
        return select.with_for_update() if self.dialect == "postgresql" else select

    async def update_versioned(
        self, table: sa.Table, key: dict[str, Any], version: int, values: dict[str, Any]
    ) -> int:
        """`UPDATE … WHERE key AND version = :v`, bumping the version; returns the new one.

        Raises ConcurrencyConflict when somebody else saved first.
        """
        where = [table.c[name] == value for name, value in key.items()]
        result = await self.connection.execute(
            table.update()
            .where(*where, table.c.version == version)
            .values(**values, version=version + 1)
        )
        if result.rowcount != 1:
            raise ConcurrencyConflict(table.name, **{k: str(v) for k, v in key.items()})
        return version + 1
