"""Notice deliveries on SQL (`uow.notice_deliveries`, typed by `core.notices.NoticeDeliveries`).

Planning inserts a whole batch in one statement with ON CONFLICT DO NOTHING on the delivery
key, so a second planner of the same event adds nothing: on PostgreSQL one `INSERT … SELECT
FROM unnest(:arrays)`, whose text is the same for any number of rows and so is prepared once
per connection (a multi-row VALUES is a new text, and a new prepare, per row count); on SQLite
one executemany of a prepared INSERT, stepped in process.

Claiming moves due `pending` rows to `sending` in the claimer's transaction: PostgreSQL lets
concurrent claimers skip locked rows, SQLite runs claimers one after the other (BEGIN
IMMEDIATE), and the `status = 'pending'` guard on the UPDATE means a row is handed out once
either way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from core.notices import (
    Delivery,
    DeliveryKey,
    DeliveryStatus,
    notice_from_json,
    notice_to_json,
)
from storage.repositories.base import SqlRepository
from storage.tables.notifications import notice_deliveries as table


# The statements the notice relay runs for every batch are built once and run with
# parameters: building a statement and its cache key on every call costs more CPU than
# running it.
@functools.cache
def _due(dialect: str) -> sa.Select[Any]:
    """The ids of due pending deliveries, oldest first; other claimers skip locked rows."""
    query = (
        sa.select(table.c.id)
        .where(
            table.c.status == DeliveryStatus.PENDING,
            table.c.next_attempt_at <= sa.bindparam("now"),
        )
        .order_by(table.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    return query.with_for_update(skip_locked=True) if dialect == "postgresql" else query


_IDS = sa.bindparam("ids", expanding=True)
_START_SENDING = (
    table.update()
    .where(table.c.id.in_(_IDS), table.c.status == DeliveryStatus.PENDING)
    .values(
        status=DeliveryStatus.SENDING,
        attempts=table.c.attempts + 1,
        updated_at=sa.bindparam("now"),
    )
)
_SENDING = (
    sa.select(table)
    .where(table.c.id.in_(_IDS), table.c.status == DeliveryStatus.SENDING)
    .order_by(table.c.id)
)
_MARK_SENT = (
    table.update()
    .where(table.c.id == sa.bindparam("delivery_id"), table.c.status == DeliveryStatus.SENDING)
    .values(
        status=DeliveryStatus.SENT,
        channel_message_id=sa.bindparam("message_id"),
        failure=None,
        updated_at=sa.bindparam("at"),
    )
)


class SqlNoticeDeliveries(SqlRepository):
    async def plan_many(self, deliveries: Sequence[Delivery], at: datetime) -> int:
        if not deliveries:
            return 0
        rows = [_planned_row(delivery, at) for delivery in deliveries]
        if self.dialect == "postgresql":
            arrays: dict[str, Any] = {name: [] for name in _PLANNED_COLUMNS}
            for row in rows:
                for name in _PLANNED_COLUMNS:
                    value = row[name]
                    arrays[name].append(json.dumps(value) if name == "notice" else value)
            result = await self.connection.execute(_PLAN_UNNESTED, {**arrays, "at": at})
        else:
            result = await self.connection.execute(_PLAN_SQLITE, rows)
        # Rows the key already held were not inserted, and are not counted (sqlite3 sums an
        # executemany's changes; PostgreSQL reports the rows one INSERT added).
        return int(result.rowcount)

    async def claim_due(self, now: datetime, limit: int) -> list[Delivery]:
        ids = list((await self.connection.execute(
            _due(self.dialect), {"now": now, "limit": limit})).scalars())
        if not ids:
            return []
        await self.connection.execute(_START_SENDING, {"ids": ids, "now": now})
        rows = (await self.connection.execute(_SENDING, {"ids": ids})).all()
        return [_delivery(row) for row in rows]

    async def mark_sent(self, sent: Mapping[int, str | None], at: datetime) -> None:
        if not sent:
            return
        # One executemany for the whole batch.
        await self.connection.execute(
            _MARK_SENT, [{"delivery_id": d, "message_id": m, "at": at} for d, m in sent.items()]
        )

    async def retry_later(self, delivery_id: int, next_attempt_at: datetime, at: datetime) -> None:
        await self.connection.execute(
            table.update()
            .where(table.c.id == delivery_id, table.c.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, next_attempt_at=next_attempt_at, updated_at=at)
        )

    async def get(self, delivery_id: int) -> Delivery | None:
        row = (
            await self.connection.execute(
                self.for_update(sa.select(table).where(table.c.id == delivery_id))
            )
        ).first()
        return _delivery(row) if row else None

    async def close_failed(self, delivery_id: int, failure: str, at: datetime) -> bool:
        result = await self.connection.execute(
            table.update()
            .where(
                table.c.id == delivery_id,
                table.c.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
            )
            .values(status=DeliveryStatus.FAILED, failure=failure, updated_at=at)
        )
        return bool(result.rowcount == 1)

    async def stuck_sending(self, before: datetime, limit: int) -> list[Delivery]:
        rows = (
            await self.connection.execute(
                sa.select(table)
                .where(table.c.status == DeliveryStatus.SENDING, table.c.updated_at < before)
                .order_by(table.c.id)
                .limit(limit)
            )
        ).all()
        return [_delivery(row) for row in rows]

    async def of_event(self, event_id: str) -> list[Delivery]:
        rows = (
            await self.connection.execute(
                sa.select(table).where(table.c.event_id == event_id).order_by(table.c.id)
            )
        ).all()
        return [_delivery(row) for row in rows]

    async def of_user(self, user_id: int, limit: int = 50) -> list[Delivery]:
        rows = (
            await self.connection.execute(
                sa.select(table)
                .where(table.c.user_id == user_id)
                .order_by(table.c.id.desc())
                .limit(limit)
            )
        ).all()
        return [_delivery(row) for row in rows]


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        key=DeliveryKey(row.event_id, row.user_id, row.notice_seq, row.platform),
        chat_id=row.chat_id,
        locale=row.locale,
        timezone=row.timezone,
        notice=notice_from_json(row.user_id, row.notice),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        failure=row.failure,
        channel_message_id=row.channel_message_id,
        updated_at=row.updated_at,
    )


# -- planning ---------------------------------------------------------------------------------

_DELIVERY_KEY = ("event_id", "user_id", "notice_seq", "platform")
# The columns a planned delivery brings, with the PostgreSQL array type each travels in
# (lengths are left to the columns, so a value too long is refused as before, not cut; the
# notice goes as JSON text). The other columns are the same for every row of a plan.
_PLANNED_ARRAYS = (
    ("event_id", "VARCHAR"), ("user_id", "BIGINT"), ("notice_seq", "INTEGER"),
    ("platform", "VARCHAR"), ("chat_id", "VARCHAR"), ("locale", "VARCHAR"),
    ("timezone", "VARCHAR"), ("notice_key", "VARCHAR"), ("notice", "TEXT"),
    ("next_attempt_at", "TIMESTAMP WITH TIME ZONE"),
)
_PLANNED_COLUMNS = tuple(name for name, _ in _PLANNED_ARRAYS)


def _planned_row(delivery: Delivery, at: datetime) -> dict[str, Any]:
    key = delivery.key
    return {
        "event_id": key.event_id,
        "user_id": key.user_id,
        "notice_seq": key.notice_seq,
        "platform": key.platform,
        "chat_id": delivery.chat_id,
        "locale": delivery.locale,
        "timezone": delivery.timezone,
        "notice_key": delivery.notice.key[:200],
        "notice": notice_to_json(delivery.notice),
        "next_attempt_at": delivery.next_attempt_at or at,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "created_at": at,
        "updated_at": at,
    }


_PLAN_SQLITE = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(_DELIVERY_KEY))


def _plan_unnested() -> sa.TextClause:
    """One INSERT for any number of planned deliveries, in the order given (ids follow it,
    and a chat's notices are sent in id order)."""
    arrays = ", ".join(f"CAST(:{name} AS {type_}[])" for name, type_ in _PLANNED_ARRAYS)
    names = ", ".join(_PLANNED_COLUMNS)
    values = ", ".join(f"v.{name}::jsonb" if name == "notice" else f"v.{name}"
                       for name in _PLANNED_COLUMNS)
    return sa.text(
        f"INSERT INTO {table.name} ({names}, status, attempts, created_at, updated_at) "
        f"SELECT {values}, '{DeliveryStatus.PENDING}', 0, "
        "CAST(:at AS TIMESTAMP WITH TIME ZONE), CAST(:at AS TIMESTAMP WITH TIME ZONE) "
        f"FROM unnest({arrays}) WITH ORDINALITY AS v({names}, n) ORDER BY v.n "
        f"ON CONFLICT ({', '.join(_DELIVERY_KEY)}) DO NOTHING"
    )


_PLAN_UNNESTED = _plan_unnested()
