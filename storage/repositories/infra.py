"""Outbox, idempotency keys and audit log on SQL."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.shared.audit import AuditEntry
from core.shared.errors import AlreadyProcessed
from core.shared.messages import Event
from storage.repositories.base import SqlRepository
from storage.tables.infra import audit_log, outbox, processed_commands

# The statements every command or dispatcher pass runs are built once and run with
# parameters: building a statement and its cache key on every call costs more CPU than
# running it.
_ADD_OUTBOX = outbox.insert()
_MARK_DISPATCHED = (
    outbox.update()
    .where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(dispatched_at=sa.bindparam("at"))
)


@functools.cache
def _claim_batch(dialect: str) -> sa.Select[Any]:
    """Undispatched rows, oldest first; on PostgreSQL other dispatchers skip them."""
    query = (
        sa.select(outbox.c.id, outbox.c.event_type, outbox.c.payload, outbox.c.created_at)
        .where(outbox.c.dispatched_at.is_(None))
        .order_by(outbox.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    return query.with_for_update(skip_locked=True) if dialect == "postgresql" else query


@dataclass(frozen=True)
class SqlOutboxRecord:
    id: int
    event: Event
    created_at: datetime


class SqlOutbox(SqlRepository):
    async def add(self, event: Event, created_at: datetime) -> None:
        await self.add_all([event], created_at)

    async def add_all(self, events: Sequence[Event], created_at: datetime) -> None:
        """One statement for all of a transaction's events (an executemany when several)."""
        if not events:
            return
        rows = [
            {
                "event_id": event.event_id,
                "event_type": event.type_name(),
                "payload": event.to_payload(),
                "created_at": created_at,
            }
            for event in events
        ]
        await self.connection.execute(_ADD_OUTBOX, rows if len(rows) > 1 else rows[0])

    async def claim_batch(self, limit: int) -> Sequence[SqlOutboxRecord]:
        """Undispatched rows, oldest first; on PostgreSQL other dispatchers skip them."""
        rows = (
            await self.connection.execute(_claim_batch(self.dialect), {"limit": limit})
        ).all()
        return [
            SqlOutboxRecord(row.id, Event.from_payload(row.event_type, row.payload), row.created_at)
            for row in rows
        ]

    async def mark_dispatched(self, record_ids: Sequence[int], at: datetime) -> None:
        if record_ids:
            await self.connection.execute(_MARK_DISPATCHED, {"ids": list(record_ids), "at": at})


class SqlIdempotencyKeys(SqlRepository):
    # Built once per dialect and run with new values: building and keying an INSERT with
    # `.values(...)` on every command cost more CPU than running it.
    _claims: dict[str, Any] = {}

    async def claim(self, key: str, at: datetime) -> None:
        # ON CONFLICT DO NOTHING keeps the transaction usable; a concurrent claimer of the
        # same key waits for ours to commit and then sees rowcount 0.
        statement = self._claims.get(self.dialect)
        if statement is None:
            statement = self._claims[self.dialect] = self.insert(
                processed_commands).on_conflict_do_nothing(index_elements=["key"])
        result = await self.connection.execute(statement, {"key": key, "processed_at": at})
        if result.rowcount != 1:
            raise AlreadyProcessed(key)


_ADD_AUDIT = audit_log.insert()
_AUDIT_OF = (
    sa.select(audit_log)
    .where(
        audit_log.c.entity == sa.bindparam("entity"),
        audit_log.c.entity_id == sa.bindparam("entity_id"),
    )
    .order_by(audit_log.c.id)
)


class SqlAuditLog(SqlRepository):
    async def add(self, entry: AuditEntry) -> None:
        await self.connection.execute(_ADD_AUDIT, {
            "entity": entry.entity,
            "entity_id": str(entry.entity_id),
            "action": entry.action,
            "actor_id": entry.actor_id,
            "at": entry.at,
            "from_state": entry.from_state,
            "to_state": entry.to_state,
            "reason": entry.reason,
            "data": entry.data,
        })

    async def for_entity(self, entity: str, entity_id: str) -> list[AuditEntry]:
        rows = (
            await self.connection.execute(
                _AUDIT_OF, {"entity": entity, "entity_id": str(entity_id)}
            )
        ).all()
        return [
            AuditEntry(
                entity=r.entity,
                entity_id=r.entity_id,
                action=r.action,
                actor_id=r.actor_id,
                at=r.at,
                from_state=r.from_state,
                to_state=r.to_state,
                reason=r.reason,
                data=r.data or {},
            )
            for r in rows
        ]
