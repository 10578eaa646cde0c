"""The relay on SQL: conversations with their participants, each user's current choice, the
transcript of relayed messages, and the message-pair table.

A conversation is saved version-checked with its participants' membership; a participant's
address and last location have their own small writes, so two people talking at once never
conflict over a conversation row. Pairs are inserted with ON CONFLICT DO NOTHING on
(from chat, from message, to chat): reporting a delivered copy twice records it once.

`SqlRelayJournal` writes the hot path's rows beside the units of work, for many messages at
once: see its docstring.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from core.relay.model import (
    Conversation,
    ConversationStatus,
    Location,
    MessageKind,
    MessagePair,
    Participant,
    ParticipantRole,
    RelayedMessage,
)
from core.shared.errors import NotFound
from storage.db import create_engine
from storage.repositories.base import SqlRepository
from storage.tables.relay import (
    relay_conversations,
    relay_messages,
    relay_pairs,
    relay_participants,
    relay_selections,
)

log = logging.getLogger(__name__)

_C = relay_conversations.c
_P = relay_participants.c


def _conversation_values(conversation: Conversation) -> dict[str, Any]:
    return {
        "order_id": conversation.order_id,
        "order_number": conversation.order_number,
        "service_kind": conversation.service_kind,
        "status": conversation.status.value,
        "opened_at": conversation.opened_at,
        "order_ended_at": conversation.order_ended_at,
        "close_at": conversation.close_at,
        "closed_at": conversation.closed_at,
        "close_reason": conversation.close_reason,
        "disputed": conversation.disputed,
    }


def _participant_from(row: Any, *, prefix: str = "") -> Participant:
    def value(name: str) -> Any:
        return row._mapping[prefix + name]

    location = None
    latitude, longitude = value("last_latitude"), value("last_longitude")
    if latitude is not None and longitude is not None:
        location = Location(latitude, longitude)
    return Participant(
        user_id=value("user_id"), role=ParticipantRole(value("role")),
        joined_at=value("joined_at"), active=value("active"), platform=value("platform"),
        chat_id=value("chat_id"), locale=value("locale"), last_location=location,
        last_location_at=value("last_location_at"),
    )



def _row(record: Any) -> dict[str, Any]:
    """A flat dataclass as a row: its fields as they are (`asdict` deep-copies each one)."""
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}


def _write_participants_statement(dialect: str) -> Any:
    """Insert a participant, or update the membership of one already there."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(relay_participants)
    return insert.on_conflict_do_update(
        index_elements=["conversation_id", "user_id"],
        set_={name: insert.excluded[name] for name in ("role", "active", "joined_at")},
    )


_WRITE_PARTICIPANTS = {
    dialect: _write_participants_statement(dialect) for dialect in ("postgresql", "sqlite")
}


class SqlConversations(SqlRepository):
    async def add(self, conversation: Conversation) -> None:
        result = await self.connection.execute(
            relay_conversations.insert().values(**_conversation_values(conversation), version=1)
        )
        conversation.id = int(result.inserted_primary_key[0])
        conversation.version = 1
        await self._write_participants(conversation)
        self.uow.track(conversation)

    async def get(self, conversation_id: int, *, for_update: bool = False) -> Conversation:
        found = await self._load("id", conversation_id, for_update=for_update)
        if not found:
            raise NotFound("error.relay.conversation_not_found", order_id=conversation_id)
        return found[0]

    async def for_order(self, order_id: int, *, for_update: bool = False) -> Conversation | None:
        found = await self._load("order_id", order_id, for_update=for_update)
        return found[0] if found else None

    async def for_order_number(self, order_number: str) -> Conversation | None:
        found = await self._load("order_number", order_number)
        return found[0] if found else None

    async def save(self, conversation: Conversation) -> None:
        conversation.version = await self.update_versioned(
            relay_conversations, {"id": conversation.id}, conversation.version,
            _conversation_values(conversation),
        )
        await self._write_participants(conversation)

    async def _write_participants(self, conversation: Conversation) -> None:
        """Every participant in one INSERT: a new one with their address when known from the
        start; an existing one has only their membership updated (their address has its own
        write, `remember_address`, never this one)."""
        if not conversation.participants:
            return
        rows = [
            {"conversation_id": conversation.id, "user_id": participant.user_id,
             "role": participant.role.value, "active": participant.active,
             "joined_at": participant.joined_at, "platform": participant.platform,
             "chat_id": participant.chat_id, "locale": participant.locale}
            for participant in conversation.participants
        ]
        # One statement built once, its rows batched by the driver (asyncpg pipelines them
        # in one round trip): SQLAlchemy does not cache a VALUES list of rows, and compiling
        # one on every call cost about six times the CPU of running it.
        await self.connection.execute(_WRITE_PARTICIPANTS[self.dialect], rows)

    async def open_for(self, user_id: int) -> list[Conversation]:
        return (await self.open_for_each([user_id]))[user_id]

    async def open_for_each(self, user_ids: Sequence[int]) -> dict[int, list[Conversation]]:
        wanted = list(dict.fromkeys(user_ids))
        found = await self._load("open_for", wanted)
        return {user_id: [c for c in found if c.participant(user_id) is not None]
                for user_id in wanted}

    async def due_to_close(self, now: datetime, limit: int) -> list[int]:
        rows = await self.connection.execute(
            sa.select(_C.id)
            .where(_C.status == ConversationStatus.OPEN.value, _C.close_at <= now)
            .order_by(_C.close_at, _C.id)
            .limit(limit)
        )
        return [int(r) for r in rows.scalars()]

    async def selected(self, user_id: int) -> int | None:
        value = (
            await self.connection.execute(_SELECTED, {"user_id": user_id})
        ).scalar_one_or_none()
        return None if value is None else int(value)

    async def select(self, user_id: int, conversation_id: int, at: datetime) -> None:
        values = {"conversation_id": conversation_id, "selected_at": at}
        await self.connection.execute(
            self.insert(relay_selections)
            .values(user_id=user_id, **values)
            .on_conflict_do_update(index_elements=["user_id"], set_=values)
        )

    async def remember_address(self, conversation_id: int, user_id: int, platform: str,
                               chat_id: str, locale: str) -> None:
        await self.connection.execute(
            relay_participants.update()
            .where(_P.conversation_id == conversation_id, _P.user_id == user_id)
            .values(platform=platform, chat_id=chat_id, locale=locale)
        )

    async def remember_location(self, conversation_id: int, user_id: int, location: Location,
                                at: datetime) -> None:
        await self.connection.execute(
            relay_participants.update()
            .where(_P.conversation_id == conversation_id, _P.user_id == user_id)
            .values(last_latitude=location.latitude, last_longitude=location.longitude,
                    last_location_at=at)
        )

    async def _load(self, selector: str, key: Any, *, for_update: bool = False
                    ) -> list[Conversation]:
        """The conversations `selector` picks for `key` (see `_SELECTORS`), each with its
        participants: one statement (the conversation's row repeated per participant), or two
        when the rows are locked, so that only the conversations' rows are (participants'
        addresses are written by people talking meanwhile)."""
        if for_update:
            return await self._load_locked(_statement(selector, self.dialect, locked=True), key)
        rows = (
            await self.connection.execute(
                _statement(selector, self.dialect, locked=False), {"key": key})
        ).all()
        members: dict[int, list[Participant]] = {}
        first: dict[int, Any] = {}
        for row in rows:
            first.setdefault(row.id, row)
            found = members.setdefault(row.id, [])
            if row.p_user_id is not None:
                found.append(_participant_from(row, prefix="p_"))
        return [self._conversation(row, members[i]) for i, row in first.items()]

    async def _load_locked(self, query: sa.Select[Any], key: Any) -> list[Conversation]:
        rows = (await self.connection.execute(query, {"key": key})).all()
        if not rows:
            return []
        ids = [row.id for row in rows]
        members: dict[int, list[Participant]] = {i: [] for i in ids}
        for row in (await self.connection.execute(_PARTICIPANTS_OF, {"ids": ids})).all():
            members[row.conversation_id].append(_participant_from(row))
        return [self._conversation(row, members[row.id]) for row in rows]

    def _conversation(self, row: Any, participants: list[Participant]) -> Conversation:
        conversation = Conversation(
            id=row.id, order_id=row.order_id, order_number=row.order_number,
            service_kind=row.service_kind, status=ConversationStatus(row.status),
            participants=_ordered(participants), opened_at=row.opened_at,
            order_ended_at=row.order_ended_at, close_at=row.close_at,
            closed_at=row.closed_at, close_reason=row.close_reason,
            disputed=row.disputed, version=row.version,
        )
        self.uow.track(conversation)
        return conversation


# A participant's columns beside their conversation's, named apart from them.
_PARTICIPANT_COLUMNS = [c.label(f"p_{c.name}") for c in relay_participants.c
                        if c.name != "conversation_id"]

# How conversations are picked, by a parameter named `key`. The statements are built once:
# building a select with a subquery and a join, and its cache key, on every call cost more
# CPU than running it.
_SELECTORS: dict[str, sa.Select[Any]] = {
    "id": sa.select(relay_conversations).where(_C.id == sa.bindparam("key")),
    "order_id": sa.select(relay_conversations).where(_C.order_id == sa.bindparam("key")),
    "order_number": sa.select(relay_conversations).where(_C.order_number == sa.bindparam("key")),
    # the open conversations in which any of the users (a list) take part
    "open_for": (
        sa.select(relay_conversations)
        .where(
            _C.id.in_(
                sa.select(_P.conversation_id)
                .where(_P.user_id.in_(sa.bindparam("key", expanding=True)), _P.active.is_(True))
            ),
            _C.status == ConversationStatus.OPEN.value,
        )
        .order_by(_C.id)
    ),
}


@functools.cache
def _statement(selector: str, dialect: str, *, locked: bool) -> sa.Select[Any]:
    """The conversations `selector` picks: locked (on PostgreSQL; SQLite already holds the
    database lock), or with their participants joined."""
    query = _SELECTORS[selector]
    if locked:
        return query.with_for_update() if dialect == "postgresql" else query
    conversations = query.subquery("c")
    return (
        sa.select(conversations, *_PARTICIPANT_COLUMNS)
        .select_from(conversations.outerjoin(
            relay_participants, _P.conversation_id == conversations.c.id))
        .order_by(conversations.c.id, _P.joined_at, _P.user_id)
    )


_PARTICIPANTS_OF = (
    sa.select(relay_participants)
    .where(_P.conversation_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(_P.conversation_id, _P.joined_at, _P.user_id)
)
_SELECTED = (
    sa.select(relay_selections.c.conversation_id)
    .where(relay_selections.c.user_id == sa.bindparam("user_id"))
)


_ROLE_ORDER = {ParticipantRole.CUSTOMER: 0, ParticipantRole.PROVIDER: 1,
               ParticipantRole.OPERATOR: 2}


def _ordered(participants: list[Participant]) -> list[Participant]:
    return sorted(participants, key=lambda p: (_ROLE_ORDER[p.role], p.joined_at, p.user_id))


_M = relay_messages.c


def _message_from(row: Any) -> RelayedMessage:
    location = None
    if row.latitude is not None and row.longitude is not None:
        location = Location(row.latitude, row.longitude)
    return RelayedMessage(
        id=row.id, conversation_id=row.conversation_id, order_id=row.order_id,
        sender_id=row.sender_id, sender_role=ParticipantRole(row.sender_role),
        platform=row.platform, chat_id=row.chat_id, message_id=row.message_id,
        kind=MessageKind(row.kind), text=row.text, files=tuple(row.files or ()),
        leak_kinds=tuple(row.leak_kinds or ()), leak_count=row.leak_count, sent_at=row.sent_at,
        media_group_id=row.media_group_id, location=location, reply_to_id=row.reply_to_id,
        edit_of=row.edit_of,
    )


def _message_values(message: RelayedMessage) -> dict[str, Any]:
    return {
        "conversation_id": message.conversation_id, "order_id": message.order_id,
        "sender_id": message.sender_id, "sender_role": message.sender_role.value,
        "platform": message.platform, "chat_id": message.chat_id,
        "message_id": message.message_id, "kind": message.kind.value, "text": message.text,
        "files": list(message.files), "leak_kinds": list(message.leak_kinds),
        "leak_count": message.leak_count, "media_group_id": message.media_group_id,
        "latitude": message.location.latitude if message.location else None,
        "longitude": message.location.longitude if message.location else None,
        "reply_to_id": message.reply_to_id, "edit_of": message.edit_of,
        "sent_at": message.sent_at,
    }


class SqlTranscript(SqlRepository):
    async def add(self, message: RelayedMessage) -> RelayedMessage:
        result = await self.connection.execute(
            relay_messages.insert().values(**_message_values(message))
        )
        return dataclasses.replace(message, id=int(result.inserted_primary_key[0]))

    async def get(self, message_id: int) -> RelayedMessage | None:
        row = (
            await self.connection.execute(sa.select(relay_messages).where(_M.id == message_id))
        ).first()
        return None if row is None else _message_from(row)

    async def original(self, platform: str, chat_id: str, message_id: str) -> RelayedMessage | None:
        row = (
            await self.connection.execute(
                sa.select(relay_messages)
                .where(_M.platform == platform, _M.chat_id == chat_id,
                       _M.message_id == message_id, _M.edit_of.is_(None))
                .order_by(_M.id)
                .limit(1)
            )
        ).first()
        return None if row is None else _message_from(row)

    async def album_conversation(self, sender_id: int, platform: str, chat_id: str,
                                 media_group_id: str) -> int | None:
        value = (
            await self.connection.execute(
                sa.select(_M.conversation_id)
                .where(_M.platform == platform, _M.chat_id == chat_id,
                       _M.media_group_id == media_group_id, _M.sender_id == sender_id)
                .order_by(_M.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        return None if value is None else int(value)

    async def leak_messages(self, conversation_id: int, sender_id: int) -> int:
        value = (
            await self.connection.execute(
                sa.select(sa.func.count())
                .select_from(relay_messages)
                .where(_M.conversation_id == conversation_id, _M.sender_id == sender_id,
                       _M.leak_count > 0)
            )
        ).scalar_one()
        return int(value)

    async def set_location(self, message_id: int, location: Location) -> None:
        await self.connection.execute(
            relay_messages.update().where(_M.id == message_id)
            .values(latitude=location.latitude, longitude=location.longitude)
        )

    async def of_conversation(self, conversation_id: int) -> Sequence[RelayedMessage]:
        rows = (
            await self.connection.execute(
                sa.select(relay_messages)
                .where(_M.conversation_id == conversation_id)
                .order_by(_M.id)
            )
        ).all()
        return [_message_from(row) for row in rows]


_R = relay_pairs.c


def _pair_from(row: Any) -> MessagePair:
    return MessagePair(
        conversation_id=row.conversation_id, relayed_message_id=row.relayed_message_id,
        from_platform=row.from_platform, from_chat_id=row.from_chat_id,
        from_message_id=row.from_message_id, to_user_id=row.to_user_id,
        to_platform=row.to_platform, to_chat_id=row.to_chat_id,
        to_message_id=row.to_message_id, created_at=row.created_at,
    )


_PAIR_KEY = ["from_platform", "from_chat_id", "from_message_id", "to_platform", "to_chat_id"]


class SqlPairs(SqlRepository):
    async def add(self, pair: MessagePair) -> bool:
        result = await self.connection.execute(
            self.insert(relay_pairs)
            .values(**_row(pair))
            .on_conflict_do_nothing(index_elements=_PAIR_KEY)
        )
        return bool(result.rowcount == 1)

    async def by_target(self, platform: str, chat_id: str, message_id: str) -> MessagePair | None:
        row = (
            await self.connection.execute(
                sa.select(relay_pairs)
                .where(_R.to_platform == platform, _R.to_chat_id == chat_id,
                       _R.to_message_id == message_id)
                .order_by(_R.id)
                .limit(1)
            )
        ).first()
        return None if row is None else _pair_from(row)

    async def by_source(self, platform: str, chat_id: str, message_id: str) -> list[MessagePair]:
        rows = (
            await self.connection.execute(
                sa.select(relay_pairs)
                .where(_R.from_platform == platform, _R.from_chat_id == chat_id,
                       _R.from_message_id == message_id)
                .order_by(_R.id)
            )
        ).all()
        return [_pair_from(row) for row in rows]

    async def of_message(self, relayed_message_id: int) -> list[MessagePair]:
        rows = (
            await self.connection.execute(
                sa.select(relay_pairs)
                .where(_R.relayed_message_id == relayed_message_id)
                .order_by(_R.id)
            )
        ).all()
        return [_pair_from(row) for row in rows]

    async def recipients_of(self, relayed_message_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        if not relayed_message_ids:
            return {}
        found: dict[int, list[int]] = {}
        for chunk_start in range(0, len(relayed_message_ids), 500):
            chunk = list(relayed_message_ids[chunk_start:chunk_start + 500])
            rows = await self.connection.execute(
                sa.select(_R.relayed_message_id, _R.to_user_id)
                .where(_R.relayed_message_id.in_(chunk))
                .order_by(_R.id)
            )
            for message_id, user_id in rows.all():
                users = found.setdefault(int(message_id), [])
                if user_id not in users:
                    users.append(int(user_id))
        return {k: tuple(v) for k, v in found.items()}


# --- the hot path's writes, batched ---------------------------------------------------------

_MESSAGE_COLUMNS = [c.name for c in relay_messages.c if c.name != "id"]


class SqlRelayJournal:
    """The relay's hot-path writes, many messages per statement, on an engine of its own
    (PostgreSQL in autocommit: one round trip per statement, none for BEGIN and COMMIT; its
    own small pool, so it never waits for a connection behind the units of work that wait
    for it).

    - `append` is a group commit: messages routed while a write is under way go together in
      the next one, as one INSERT … SELECT … WHERE the conversation is still at the version
      their route was read at. A message whose conversation moved on is not stored (None).
    - `stage_pair` is write-behind: copies go in one INSERT … ON CONFLICT DO NOTHING
      `pair_delay` seconds after the first waiting one (or at `max_pairs`, or on `flush`).
      A failed write keeps them for the next attempt; `close` writes what is left.
    """

    def __init__(self, engine: AsyncEngine, *, pair_delay: float = 0.05,
                 max_pairs: int = 500, retry_delay: float = 1.0,
                 remembered_pairs: int = 20_000) -> None:
        self.engine = engine
        self.pair_delay = pair_delay
        self.max_pairs = max_pairs
        self.retry_delay = retry_delay
        self._remembered_pairs = remembered_pairs
        self._messages: list[tuple[RelayedMessage, int, asyncio.Future[RelayedMessage | None]]] = []
        self._pairs: list[dict[str, Any]] = []
        self._pairs_due = False
        self._recent_pairs: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self._writer: asyncio.Task[None] | None = None
        self._pair_writer: asyncio.Task[None] | None = None
        # Who waits for the staged copies (flush), and the copies' write under way.
        self._pair_waiters: list[asyncio.Future[None]] = []
        self._pairs_writing: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.writes = 0  # statements issued, for benchmarks

    @property
    def _dialect(self) -> str:
        return self.engine.dialect.name

    async def append(self, message: RelayedMessage, *,
                     conversation_version: int) -> RelayedMessage | None:
        future: asyncio.Future[RelayedMessage | None] = (
            asyncio.get_running_loop().create_future())
        self._messages.append((message, conversation_version, future))
        self._kick()
        return await future

    def stage_pair(self, pair: MessagePair) -> bool:
        key = (pair.from_platform, pair.from_chat_id, pair.from_message_id, pair.to_platform,
               pair.to_chat_id)
        if key in self._recent_pairs:
            return False
        self._recent_pairs[key] = None
        while len(self._recent_pairs) > self._remembered_pairs:
            self._recent_pairs.popitem(last=False)
        self._pairs.append(_row(pair))
        if len(self._pairs) >= self.max_pairs:
            self._pairs_due = True
            self._kick_pairs()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.pair_delay, self._pairs_timer)
        return True

    async def flush(self) -> None:
        """Returns once every copy staged before the call is written (or failed, logged):
        however busy the journal stays with others' messages meanwhile."""
        waiting: list[asyncio.Future[None]] = []
        if self._pairs_writing is not None:
            waiting.append(self._pairs_writing)
        if self._pairs:
            written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._pair_waiters.append(written)
            waiting.append(written)
            self._pairs_due = True
            self._kick_pairs()
        for future in waiting:
            await asyncio.shield(future)

    async def close(self) -> None:
        """Write what waits, then let go of the connection."""
        await self.flush()
        for writer in (self._writer, self._pair_writer):
            while writer is not None and not writer.done():
                await asyncio.shield(writer)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pairs:
            log.error("relay journal closing with %d delivered copies unwritten", len(self._pairs))
        await self.engine.dispose()

    # -- writing --------------------------------------------------------------------------

    def _pairs_timer(self) -> None:
        self._timer = None
        self._pairs_due = True
        self._kick_pairs()

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def _kick_pairs(self) -> None:
        if self._pair_writer is None or self._pair_writer.done():
            self._pair_writer = asyncio.get_running_loop().create_task(self._write_due_pairs())

    async def _write(self) -> None:
        """Messages, group by group. Copies go on a writer of their own, so a message being
        routed never waits behind them."""
        while self._messages:
            messages, self._messages = self._messages, []
            await self._write_messages(messages)

    async def _write_due_pairs(self) -> None:
        while self._pairs_due or self._pair_waiters:
            pairs, self._pairs, self._pairs_due = self._pairs, [], False
            waiters, self._pair_waiters = self._pair_waiters, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            writing = asyncio.get_running_loop().create_future() if pairs else None
            self._pairs_writing = writing
            try:
                if pairs:
                    await self._write_pairs(pairs)
            finally:
                self._pairs_writing = None
                for future in (*waiters, *([writing] if writing else [])):
                    if not future.done():
                        future.set_result(None)

    async def _write_messages(
        self, messages: list[tuple[RelayedMessage, int, asyncio.Future[RelayedMessage | None]]],
    ) -> None:
        rows: list[Any] = []
        try:
            async with self.engine.connect() as connection:
                statement, params = _insert_checked(messages)
                rows.extend((await connection.execute(statement, params)).all())
                self.writes += 1
                await connection.commit()
        except Exception as error:
            for _, _, future in messages:
                if not future.done():
                    future.set_exception(error)
            return
        ids: dict[tuple[str, str, str], list[int]] = {}
        for row in sorted(rows, key=lambda r: r.id):
            ids.setdefault((row.platform, row.chat_id, row.message_id), []).append(int(row.id))
        for message, _, future in messages:
            found = ids.get((message.platform, message.chat_id, message.message_id))
            stored = dataclasses.replace(message, id=found.pop(0)) if found else None
            if not future.done():
                future.set_result(stored)

    async def _write_pairs(self, pairs: list[dict[str, Any]]) -> None:
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        try:
            async with self.engine.connect() as connection:
                # executemany of one prepared INSERT: the driver sends the rows together.
                await connection.execute(
                    insert(relay_pairs).on_conflict_do_nothing(index_elements=_PAIR_KEY), pairs
                )
                await connection.commit()
            self.writes += 1
        except Exception:
            log.exception("writing %d delivered copies failed; trying again in %.0f s",
                          len(pairs), self.retry_delay)
            self._pairs[:0] = pairs
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self.retry_delay,
                                                                    self._pairs_timer)


def journal_for(engine: AsyncEngine) -> SqlRelayJournal | None:
    """A journal for the database of `engine`, on a connection of its own. None on SQLite:
    there a unit of work holds the one write lock while it routes, so writes beside it would
    wait for it; the unit of work writes the rows itself."""
    if engine.dialect.name != "postgresql":
        return None
    own = create_engine(engine.url.render_as_string(hide_password=False), pool_size=1,
                        max_overflow=1, isolation_level="AUTOCOMMIT")
    return SqlRelayJournal(own)


def _array_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL array type a column's values travel in (JSON as its text)."""
    if isinstance(column.type, sa.JSON):
        return "TEXT[]"
    return f"{column.type.compile(dialect=postgresql.dialect())}[]"


def _unnested_insert() -> sa.TextClause:
    """`INSERT … SELECT FROM unnest(:column arrays) WHERE EXISTS (conversation at :version)`:
    one statement, prepared once, for any number of messages."""
    columns = [relay_messages.c[name] for name in _MESSAGE_COLUMNS]
    arrays = ", ".join(f"CAST(:{c.name} AS {_array_type(c)})" for c in columns)
    values = ", ".join(f"v.{c.name}::jsonb" if isinstance(c.type, sa.JSON) else f"v.{c.name}"
                       for c in columns)
    names = ", ".join(_MESSAGE_COLUMNS)
    return sa.text(
        f"INSERT INTO relay_messages ({names}) SELECT {values} "
        f"FROM unnest({arrays}, CAST(:version AS INTEGER[])) AS v({names}, version) "
        "WHERE EXISTS (SELECT 1 FROM relay_conversations c "
        "WHERE c.id = v.conversation_id AND c.version = v.version) "
        "RETURNING id, platform, chat_id, message_id"
    )


_UNNESTED_INSERT = _unnested_insert()


def _insert_checked(
    messages: Sequence[tuple[RelayedMessage, int, Any]],
) -> tuple[sa.TextClause, dict[str, Any]]:
    """The insert for these messages, each row only while its conversation is at the version
    its route was read at, and its parameters: one array per column."""
    params: dict[str, list[Any]] = {name: [] for name in (*_MESSAGE_COLUMNS, "version")}
    for message, version, _ in messages:
        for name, value in _message_values(message).items():
            params[name].append(json.dumps(value) if name in _JSON_COLUMNS else value)
        params["version"].append(version)
    return _UNNESTED_INSERT, params


_JSON_COLUMNS = frozenset(c.name for c in relay_messages.c if isinstance(c.type, sa.JSON))


REPOSITORIES = {
    "conversations": SqlConversations,
    "relay_messages": SqlTranscript,
    "relay_pairs": SqlPairs,
}
