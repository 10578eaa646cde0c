"""The queue of relayed messages waiting for a WeChat window, on SQL (`uow.relay_pending`).

Rows are inserted with ON CONFLICT DO NOTHING on (relayed message, recipient), so a repeated
refusal queues nothing twice. A claim reads one chat's waiting rows `FOR UPDATE` (PostgreSQL;
SQLite holds the database lock already) and marks them in the same transaction, so two
workers never hold the same rows and the second one, seeing them claimed, takes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.relay.model import DeliveryMode, Location, MessageKind, ParticipantRole
from core.relay.pending import PendingRelay, PendingStatus
from storage.repositories.base import SqlRepository
from storage.tables.relay_pending import relay_pending

_Q = relay_pending.c
_LIVE = (PendingStatus.QUEUED.value, PendingStatus.SENDING.value)


def _pending_from(row: Any) -> PendingRelay:
    location = None
    if row.latitude is not None and row.longitude is not None:
        location = Location(row.latitude, row.longitude)
    return PendingRelay(
        id=row.id, conversation_id=row.conversation_id, order_id=row.order_id,
        order_number=row.order_number, relayed_message_id=row.relayed_message_id,
        sender_id=row.sender_id, sender_role=ParticipantRole(row.sender_role),
        recipient_id=row.recipient_id, recipient_role=ParticipantRole(row.recipient_role),
        platform=row.platform, chat_id=row.chat_id, locale=row.locale,
        from_platform=row.from_platform, kind=MessageKind(row.kind), mode=DeliveryMode(row.mode),
        text=row.text, files=tuple(row.files or ()), location=location,
        queued_at=row.queued_at, status=PendingStatus(row.status),
        claimed_until=row.claimed_until, attempts=row.attempts, last_failure=row.last_failure,
        settled_at=row.settled_at, expiry_reason=row.expiry_reason,
    )


class SqlPendingRelays(SqlRepository):
    async def add(self, item: PendingRelay) -> PendingRelay | None:
        result = await self.connection.execute(
            self.insert(relay_pending)
            .values(
                conversation_id=item.conversation_id, relayed_message_id=item.relayed_message_id,
                order_id=item.order_id, order_number=item.order_number,
                sender_id=item.sender_id, sender_role=item.sender_role.value,
                recipient_id=item.recipient_id, recipient_role=item.recipient_role.value,
                platform=item.platform, chat_id=item.chat_id, locale=item.locale,
                from_platform=item.from_platform, kind=item.kind.value, mode=item.mode.value,
                text=item.text, files=list(item.files),
                latitude=item.location.latitude if item.location else None,
                longitude=item.location.longitude if item.location else None,
                status=item.status.value, queued_at=item.queued_at,
                claimed_until=item.claimed_until, attempts=item.attempts,
                last_failure=item.last_failure, settled_at=item.settled_at,
                expiry_reason=item.expiry_reason,
            )
            .on_conflict_do_nothing(index_elements=["relayed_message_id", "recipient_id"])
            .returning(_Q.id)
        )
        new_id = result.scalar_one_or_none()
        if new_id is None:
            return None
        return dataclasses.replace(item, id=int(new_id))

    async def get(self, pending_id: int) -> PendingRelay | None:
        row = (
            await self.connection.execute(sa.select(relay_pending).where(_Q.id == pending_id))
        ).first()
        return None if row is None else _pending_from(row)

    async def _rows(self, query: sa.Select[Any], *, for_update: bool = False) -> list[PendingRelay]:
        if for_update:
            query = self.for_update(query)
        return [_pending_from(row) for row in (await self.connection.execute(query)).all()]

    async def live_for(self, platform: str, chat_id: str, *,
                       for_update: bool = False) -> list[PendingRelay]:
        return await self._rows(
            sa.select(relay_pending)
            .where(_Q.platform == platform, _Q.chat_id == chat_id, _Q.status.in_(_LIVE))
            .order_by(_Q.relayed_message_id, _Q.id),
            for_update=for_update,
        )

    async def live_of_conversation(self, conversation_id: int, *,
                                   for_update: bool = False) -> list[PendingRelay]:
        return await self._rows(
            sa.select(relay_pending)
            .where(_Q.conversation_id == conversation_id, _Q.status.in_(_LIVE))
            .order_by(_Q.relayed_message_id, _Q.id),
            for_update=for_update,
        )

    async def any_live(self, platform: str, chat_id: str) -> bool:
        found = await self.connection.execute(
            sa.select(_Q.id)
            .where(_Q.platform == platform, _Q.chat_id == chat_id, _Q.status.in_(_LIVE))
            .limit(1)
        )
        return found.first() is not None

    async def of_conversation(self, conversation_id: int) -> list[PendingRelay]:
        return await self._rows(
            sa.select(relay_pending)
            .where(_Q.conversation_id == conversation_id)
            .order_by(_Q.relayed_message_id, _Q.id)
        )

    async def due_to_expire(self, queued_before: datetime, now: datetime,
                            limit: int) -> list[PendingRelay]:
        claimable = sa.or_(
            _Q.status == PendingStatus.QUEUED.value,
            sa.and_(_Q.status == PendingStatus.SENDING.value, _Q.claimed_until <= now),
        )
        return await self._rows(
            sa.select(relay_pending)
            .where(_Q.status.in_(_LIVE), _Q.queued_at <= queued_before, claimable)
            .order_by(_Q.queued_at, _Q.id)
            .limit(limit),
            for_update=True,
        )

    async def claim(self, pending_ids: Sequence[int], until: datetime) -> None:
        if pending_ids:
            await self.connection.execute(
                relay_pending.update().where(_Q.id.in_(list(pending_ids)))
                .values(status=PendingStatus.SENDING.value, claimed_until=until)
            )

    async def mark_delivered(self, pending_id: int, at: datetime) -> None:
        await self.connection.execute(
            relay_pending.update().where(_Q.id == pending_id)
            .values(status=PendingStatus.DELIVERED.value, claimed_until=None, settled_at=at,
                    expiry_reason=None)
        )

    async def release(self, pending_ids: Sequence[int], failure: str) -> list[PendingRelay]:
        if not pending_ids:
            return []
        claimed = await self._rows(
            sa.select(relay_pending)
            .where(_Q.id.in_(list(pending_ids)), _Q.status == PendingStatus.SENDING.value)
            .order_by(_Q.relayed_message_id, _Q.id),
            for_update=True,
        )
        if claimed:
            await self.connection.execute(
                relay_pending.update().where(_Q.id.in_([c.id for c in claimed]))
                .values(status=PendingStatus.QUEUED.value, claimed_until=None)
            )
            # Only the first was tried; the rest waited behind it.
            await self.connection.execute(
                relay_pending.update().where(_Q.id == pending_ids[0])
                .values(attempts=_Q.attempts + 1, last_failure=failure[:20])
            )
        return claimed

    async def expire(self, pending_ids: Sequence[int], at: datetime, reason: str) -> None:
        if pending_ids:
            await self.connection.execute(
                relay_pending.update().where(_Q.id.in_(list(pending_ids)))
                .values(status=PendingStatus.EXPIRED.value, claimed_until=None, settled_at=at,
                        expiry_reason=reason)
            )


REPOSITORIES = {
    "relay_pending": SqlPendingRelays,
}
