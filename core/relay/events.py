"""Events of the relay: conversations opening and closing, operators joining, contact leaks,
SOS alerts and relayed messages a channel refused.

Each names the order (id and human number) so the bots can tell people which order a notice
is about without reading anything back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.messages import Event


@dataclass(frozen=True, kw_only=True)
class ConversationOpened(Event):
    conversation_id: int
    order_id: int
    order_number: str
    customer_id: int
    provider_id: int
    reopened: bool
    reason: str  # "accepted" (also after a reassignment) | "dispute"
    opened_at: datetime


@dataclass(frozen=True, kw_only=True)
class ConversationClosed(Event):
    conversation_id: int
    order_id: int
    order_number: str
    customer_id: int
    provider_id: int  # 0 when no provider was on the order any more
    operator_ids: tuple[int, ...]
    reason: str  # "order_ended" | "reassigned" | "operator"
    closed_at: datetime


@dataclass(frozen=True, kw_only=True)
class OperatorJoined(Event):
    conversation_id: int
    order_id: int
    order_number: str
    operator_id: int
    customer_id: int
    provider_id: int
    joined_at: datetime


@dataclass(frozen=True, kw_only=True)
class ContactLeakMasked(Event):
    """Contact details were hidden from a relayed message (and the sender struck, or warned)."""

    conversation_id: int
    order_id: int
    order_number: str
    sender_id: int
    relayed_message_id: int
    kinds: tuple[str, ...]
    count: int
    struck: int  # strikes recorded for this message (0: a warning only, or an operator)
    strikes: int | None  # the sender's strike count afterwards, when struck
    at: datetime


@dataclass(frozen=True, kw_only=True)
class SosRaised(Event):
    """Somebody in an in-person order asked for help: the operator group is told at once."""

    conversation_id: int
    order_id: int
    order_number: str
    service_kind: str | None
    raised_by: int
    raised_by_role: str
    customer_id: int
    provider_id: int
    operator_ids: tuple[int, ...]  # operators already in the conversation
    latitude: float | None
    longitude: float | None
    location_at: datetime | None  # when that location was shared (None: no location known)
    location_source: str | None  # "sos" (sent with the alert) | "shared" (last shared) | None
    raised_at: datetime


@dataclass(frozen=True, kw_only=True)
class RelayUndelivered(Event):
    """A relayed message did not reach its recipient (bot blocked, WeChat window closed...)."""

    conversation_id: int
    order_id: int
    order_number: str
    relayed_message_id: int
    sender_id: int
    recipient_id: int
    failure: str
    at: datetime
