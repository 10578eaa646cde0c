"""In-memory relay storage and people, for routing tests without a database."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from core.identity.model import ChannelAccount, Role, User
from core.relay.model import Conversation, Location, MessagePair, RelayedMessage
from core.shared.errors import NotFound
from tests.fakes import FakeUnitOfWork


class FakeUsers:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}

    def add(self, user_id: int, *accounts: tuple[str, str], locale: str = "zh",
            roles: frozenset[Role] = frozenset({Role.CUSTOMER})) -> User:
        user = User(
            id=user_id, display_name=f"user{user_id}", roles=roles, locale=locale,
            timezone="Asia/Shanghai", created_at=datetime(2026, 1, 1, tzinfo=UTC),
            accounts=tuple(ChannelAccount(p, chat, chat) for p, chat in accounts),
        )
        self.users[user_id] = user
        return user

    async def get(self, user_id: int) -> User:
        if user_id not in self.users:
            raise NotFound("error.user.not_found", user_id=user_id)
        return self.users[user_id]

    async def get_many(self, user_ids: Iterable[int], *, follow_merges: bool = False
                       ) -> dict[int, User]:
        return {user_id: self.users[user_id] for user_id in user_ids if user_id in self.users}

    async def save(self, user: User) -> None:
        self.users[user.id] = user


class FakeConversations:
    def __init__(self) -> None:
        self.rows: dict[int, Conversation] = {}
        self.selections: dict[int, int] = {}

    async def add(self, conversation: Conversation) -> None:
        conversation.id = len(self.rows) + 1
        self.rows[conversation.id] = conversation

    async def get(self, conversation_id: int, *, for_update: bool = False) -> Conversation:
        if conversation_id not in self.rows:
            raise NotFound("error.relay.conversation_not_found", order_id=conversation_id)
        return self.rows[conversation_id]

    async def for_order(self, order_id: int, *, for_update: bool = False) -> Conversation | None:
        return next((c for c in self.rows.values() if c.order_id == order_id), None)

    async def for_order_number(self, order_number: str) -> Conversation | None:
        return next((c for c in self.rows.values() if c.order_number == order_number), None)

    async def save(self, conversation: Conversation) -> None:
        self.rows[conversation.id] = conversation

    async def open_for(self, user_id: int) -> list[Conversation]:
        return [c for c in self.rows.values() if c.is_open and c.participant(user_id)]

    async def due_to_close(self, now: datetime, limit: int) -> list[int]:
        return [c.id for c in self.rows.values() if c.is_due(now)][:limit]

    async def selected(self, user_id: int) -> int | None:
        return self.selections.get(user_id)

    async def select(self, user_id: int, conversation_id: int, at: datetime) -> None:
        self.selections[user_id] = conversation_id

    async def remember_address(self, conversation_id: int, user_id: int, platform: str,
                               chat_id: str, locale: str) -> None:
        participant = self.rows[conversation_id].participant(user_id)
        assert participant is not None
        participant.platform, participant.chat_id, participant.locale = platform, chat_id, locale

    async def remember_location(self, conversation_id: int, user_id: int, location: Location,
                                at: datetime) -> None:
        participant = self.rows[conversation_id].participant(user_id)
        assert participant is not None
        participant.last_location, participant.last_location_at = location, at


class FakeTranscript:
    def __init__(self) -> None:
        self.messages: list[RelayedMessage] = []

    async def add(self, message: RelayedMessage) -> RelayedMessage:
        stored = dataclasses.replace(message, id=len(self.messages) + 1)
        self.messages.append(stored)
        return stored

    async def get(self, message_id: int) -> RelayedMessage | None:
        return next((m for m in self.messages if m.id == message_id), None)

    async def original(self, platform: str, chat_id: str, message_id: str) -> RelayedMessage | None:
        return next((m for m in self.messages if (m.platform, m.chat_id, m.message_id)
                     == (platform, chat_id, message_id) and m.edit_of is None), None)

    async def album_conversation(self, sender_id: int, platform: str, chat_id: str,
                                 media_group_id: str) -> int | None:
        return next((m.conversation_id for m in self.messages
                     if (m.sender_id, m.platform, m.chat_id, m.media_group_id)
                     == (sender_id, platform, chat_id, media_group_id)), None)

    async def leak_messages(self, conversation_id: int, sender_id: int) -> int:
        return sum(1 for m in self.messages if m.conversation_id == conversation_id
                   and m.sender_id == sender_id and m.leak_count)

    async def set_location(self, message_id: int, location: Location) -> None:
        index = next(i for i, m in enumerate(self.messages) if m.id == message_id)
        self.messages[index] = dataclasses.replace(self.messages[index], location=location)

    async def of_conversation(self, conversation_id: int) -> Sequence[RelayedMessage]:
        return [m for m in self.messages if m.conversation_id == conversation_id]


class FakePairs:
    def __init__(self) -> None:
        self.pairs: list[MessagePair] = []

    async def add(self, pair: MessagePair) -> bool:
        key = (pair.from_platform, pair.from_chat_id, pair.from_message_id, pair.to_platform,
               pair.to_chat_id)
        if any((p.from_platform, p.from_chat_id, p.from_message_id, p.to_platform, p.to_chat_id)
               == key for p in self.pairs):
            return False
        self.pairs.append(pair)
        return True

    async def by_target(self, platform: str, chat_id: str, message_id: str) -> MessagePair | None:
        return next((p for p in self.pairs if (p.to_platform, p.to_chat_id, p.to_message_id)
                     == (platform, chat_id, message_id)), None)

    async def by_source(self, platform: str, chat_id: str, message_id: str) -> list[MessagePair]:
        return [p for p in self.pairs if (p.from_platform, p.from_chat_id, p.from_message_id)
                == (platform, chat_id, message_id)]

    async def of_message(self, relayed_message_id: int) -> list[MessagePair]:
        return [p for p in self.pairs if p.relayed_message_id == relayed_message_id]

    async def recipients_of(self, relayed_message_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        found: dict[int, tuple[int, ...]] = {}
        for p in self.pairs:
            if p.relayed_message_id in relayed_message_ids:
                found[p.relayed_message_id] = (*found.get(p.relayed_message_id, ()), p.to_user_id)
        return found


def relay_uow(stores: dict[str, Any]) -> FakeUnitOfWork:
    """A fake unit of work carrying the relay's repositories and people, sharing `stores`."""
    uow = FakeUnitOfWork(stores)
    uow.users = stores.setdefault("users", FakeUsers())  # type: ignore[attr-defined]
    uow.conversations = stores.setdefault("conversations", FakeConversations())  # type: ignore[attr-defined]
    uow.relay_messages = stores.setdefault("relay_messages", FakeTranscript())  # type: ignore[attr-defined]
    uow.relay_pairs = stores.setdefault("relay_pairs", FakePairs())  # type: ignore[attr-defined]
    return uow
