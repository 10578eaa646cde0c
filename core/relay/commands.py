"""Commands of the relay and the platform-neutral plans they return to the chat adapters.

An adapter turns an inbound chat message into `RouteInbound`, gets a `RelayPlan` back (who
receives it, where, masked text, copy or re-send), delivers it, and reports each delivered
copy with `RecordRelayed` (or a refusal with `ReportRelayFailed`). Edits follow with
`RouteEdit`. `/chat` is `ListConversations` + `SelectConversation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.relay.masking import render
from core.relay.model import DeliveryMode, Location, MessageKind, ParticipantRole
from core.shared.messages import Command, Query

# -- inbound ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RouteInbound(Command):
    """A message someone sent the bot that should reach the other side of an order."""

    sender_user_id: int
    platform: str
    chat_id: str
    message_id: str
    kind: MessageKind | str = MessageKind.TEXT
    text: str | None = None  # the text, or the caption of a media message
    files: tuple[str, ...] = ()  # platform file ids / media ids, in album order
    reply_to_message_id: str | None = None  # the message in the sender's chat it answers
    media_group_id: str | None = None  # album parts share it
    location: Location | None = None


@dataclass(frozen=True, kw_only=True)
class RouteEdit(Command):
    """The sender changed a message (text, caption, or a live location moved)."""

    sender_user_id: int
    platform: str
    chat_id: str
    message_id: str
    text: str | None = None
    location: Location | None = None


@dataclass(frozen=True, kw_only=True)
class RecordRelayed(Command):
    """The adapter delivered relayed message `relayed_message_id` as `to_message_id`."""

    relayed_message_id: int
    recipient_user_id: int
    to_platform: str
    to_chat_id: str
    to_message_id: str


@dataclass(frozen=True, kw_only=True)
class ReportRelayFailed(Command):
    """The recipient's channel refused a relayed message ("blocked", "window_closed", ...)."""

    relayed_message_id: int
    recipient_user_id: int
    failure: str


# -- choosing, joining, closing -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ListConversations(Query):
    """The actor's open conversations (for `/chat`), the current one marked."""


@dataclass(frozen=True, kw_only=True)
class SelectConversation(Command):
    """Make the conversation of `order_id` the actor's current one."""

    order_id: int


@dataclass(frozen=True, kw_only=True)
class JoinConversation(Command):
    """An operator joins the conversation of `order_id` (during a dispute, or for safety)."""

    order_id: int


@dataclass(frozen=True, kw_only=True)
class CloseIdleConversations(Command):
    """Sweep: close conversations whose order ended long enough ago."""

    now: datetime | None = None
    limit: int = 500


@dataclass(frozen=True, kw_only=True)
class GetTranscript(Query):
    """Every relayed message of an order, for operators and the two parties."""

    order_id: int | None = None
    order_number: str | None = None


@dataclass(frozen=True, kw_only=True)
class RaiseSos(Command):
    """Somebody in an in-person order needs help now."""

    sender_user_id: int
    order_id: int
    location: Location | None = None


# -- what comes back ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayTarget:
    """One recipient of a relayed message, where to reach them and how."""

    user_id: int
    role: ParticipantRole
    platform: str
    chat_id: str
    locale: str
    mode: DeliveryMode
    # Copy with this caption instead of the original (contacts were hidden in the caption).
    replace_caption: bool = False
    # The message in this recipient's chat that the new one answers (for threading).
    reply_to_message_id: str | None = None


@dataclass(frozen=True)
class RelayPlan:
    relayed_message_id: int
    conversation_id: int
    order_id: int
    order_number: str  # for the short header "[YB0001A · provider]"
    sender_id: int
    sender_role: ParticipantRole
    platform: str
    chat_id: str
    message_id: str
    kind: MessageKind
    text: str | None  # masked, with placeholders: show it with `rendered(marker)`
    leak_kinds: tuple[str, ...]
    leak_count: int
    files: tuple[str, ...]
    media_group_id: str | None
    location: Location | None
    targets: tuple[RelayTarget, ...]

    def rendered(self, marker: str) -> str | None:
        """The masked text with each hidden part shown as `marker` ("[已隐藏]", "[hidden]")."""
        return None if self.text is None else render(self.text, marker)


@dataclass(frozen=True)
class EditTarget:
    user_id: int
    platform: str
    chat_id: str
    message_id: str
    locale: str
    mode: DeliveryMode  # EDIT in place, or SEND a corrected copy where editing is impossible


@dataclass(frozen=True)
class EditPlan:
    relayed_message_id: int  # the original message
    edit_id: int  # the transcript entry of this edit (0 for a moved live location)
    conversation_id: int
    order_id: int
    order_number: str
    sender_id: int
    kind: MessageKind
    text: str | None
    leak_kinds: tuple[str, ...]
    location: Location | None
    targets: tuple[EditTarget, ...]

    def rendered(self, marker: str) -> str | None:
        return None if self.text is None else render(self.text, marker)


@dataclass(frozen=True)
class ConversationSummary:
    conversation_id: int
    order_id: int
    order_number: str
    role: ParticipantRole  # the reader's role in it
    status: str
    opened_at: datetime
    close_at: datetime | None
    current: bool


@dataclass(frozen=True)
class TranscriptEntry:
    id: int
    at: datetime
    sender_id: int
    sender_role: ParticipantRole
    kind: MessageKind
    text: str | None  # masked, with placeholders
    files: tuple[str, ...]
    leak_kinds: tuple[str, ...]
    media_group_id: str | None
    location: Location | None
    reply_to_id: int | None
    edit_of: int | None
    delivered_to: tuple[int, ...]  # users who got a copy

    def rendered(self, marker: str) -> str | None:
        return None if self.text is None else render(self.text, marker)


@dataclass(frozen=True)
class Transcript:
    conversation_id: int
    order_id: int
    order_number: str
    status: str
    service_kind: str | None
    customer_id: int
    provider_ids: tuple[int, ...]  # everyone who was the provider in it, in order
    operator_ids: tuple[int, ...]
    opened_at: datetime
    closed_at: datetime | None
    entries: tuple[TranscriptEntry, ...]
