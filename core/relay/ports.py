"""What the relay needs from storage: conversations (with participants and each user's
current choice), the transcript of relayed messages, and the message-pair table.

Implemented in `storage/repositories/relay.py`; attributes `uow.conversations`,
`uow.relay_messages` and `uow.relay_pairs`, and the `RelayJournal` that writes the hot path's
rows in batches beside the unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.relay.model import Conversation, Location, MessagePair, RelayedMessage


class ConversationRepository(Protocol):
    async def add(self, conversation: Conversation) -> None:
        """Insert a new conversation with its participants and set its id."""
        ...

    async def get(self, conversation_id: int, *, for_update: bool = False) -> Conversation:
        """The conversation (NotFound "error.relay.conversation_not_found")."""
        ...

    async def for_order(self, order_id: int, *, for_update: bool = False) -> Conversation | None: ...

    async def for_order_number(self, order_number: str) -> Conversation | None: ...

    async def save(self, conversation: Conversation) -> None:
        """Version-checked save of the state and the participants' membership (not their
        addresses or locations, which have their own writes)."""
        ...

    async def open_for(self, user_id: int) -> list[Conversation]:
        """Open conversations in which `user_id` takes part now, oldest first."""
        ...

    async def open_for_each(self, user_ids: Sequence[int]) -> dict[int, list[Conversation]]:
        """`open_for` of each user, read together."""
        ...

    async def due_to_close(self, now: datetime, limit: int) -> list[int]: ...

    async def selected(self, user_id: int) -> int | None:
        """The conversation id the user chose with /chat, if any."""
        ...

    async def select(self, user_id: int, conversation_id: int, at: datetime) -> None: ...

    async def remember_address(self, conversation_id: int, user_id: int, platform: str,
                               chat_id: str, locale: str) -> None:
        """Where the user last wrote from in this conversation, and their language."""
        ...

    async def remember_location(self, conversation_id: int, user_id: int, location: Location,
                                at: datetime) -> None: ...


class TranscriptRepository(Protocol):
    async def add(self, message: RelayedMessage) -> RelayedMessage:
        """Store a relayed message; returns it with its id."""
        ...

    async def get(self, message_id: int) -> RelayedMessage | None: ...

    async def original(self, platform: str, chat_id: str, message_id: str) -> RelayedMessage | None:
        """The first transcript entry of a message the sender wrote (not an edit)."""
        ...

    async def album_conversation(self, sender_id: int, platform: str, chat_id: str,
                                 media_group_id: str) -> int | None:
        """The conversation an earlier part of this album went to."""
        ...

    async def leak_messages(self, conversation_id: int, sender_id: int) -> int:
        """How many of the sender's messages in this conversation had contacts hidden."""
        ...

    async def set_location(self, message_id: int, location: Location) -> None:
        """A live location moved: keep its latest point on the original entry."""
        ...

    async def of_conversation(self, conversation_id: int) -> Sequence[RelayedMessage]: ...


class PairRepository(Protocol):
    async def add(self, pair: MessagePair) -> bool:
        """Record a delivered copy; False when it was recorded before (idempotent)."""
        ...

    async def by_target(self, platform: str, chat_id: str, message_id: str) -> MessagePair | None:
        """The pair whose copy is this message (a reply to something the bot delivered)."""
        ...

    async def by_source(self, platform: str, chat_id: str, message_id: str) -> list[MessagePair]:
        """Every delivered copy of this original message."""
        ...

    async def of_message(self, relayed_message_id: int) -> list[MessagePair]: ...

    async def recipients_of(self, relayed_message_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """Relayed message id -> the users who got a copy of it."""
        ...


class RelayJournal(Protocol):
    """Transcript rows and delivered copies written for many messages at once, outside the
    command's unit of work (dependency `relay_journal`; none on SQLite, where the unit of
    work writes them itself).

    A routed message is stored before it is delivered (`append` waits for its row), so the
    transcript never lacks a message somebody received. Delivered copies are written behind,
    a few milliseconds later in one batch: read `flush` first wherever pairs are looked up.
    """

    async def append(self, message: RelayedMessage, *,
                     conversation_version: int) -> RelayedMessage | None:
        """Store the message with its id; None (nothing stored) when its conversation is no
        longer at `conversation_version`: somebody changed it since it was read."""
        ...

    def stage_pair(self, pair: MessagePair) -> bool:
        """Record a delivered copy soon; False when this copy was reported lately already."""
        ...

    async def flush(self) -> None:
        """Write every staged copy now."""
        ...
