"""The relay's domain: a Conversation per order, its participants, relayed messages and the
message pairs that let replies and edits follow.

A conversation opens when the order is accepted and closes a configurable time after the
order ends (or at once when the provider is taken off the order). While a dispute is open it
stays open, and an operator may join; a dispute on an order whose conversation had closed
reopens it. Every verb guards, moves and records an event; handlers add the audit rows.

Participants carry what the relay learns about them: the chat they last wrote from (so a
reply reaches them where they talk) and the last location they shared (for SOS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.relay import events
from core.shared.aggregate import Aggregate
from core.shared.errors import DomainError, Forbidden

PLATFORMS = ("telegram", "wechat")
MAX_TEXT = 4096  # Telegram's limit for a message; captions are shorter on Telegram still
MAX_FILES = 10  # an album holds at most ten items
MAX_REF = 256  # a file id / media id / message id


class MessageKind(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    VOICE = "voice"
    VIDEO = "video"
    VIDEO_NOTE = "video_note"
    STICKER = "sticker"
    DOCUMENT = "document"
    AUDIO = "audio"
    ANIMATION = "animation"
    LOCATION = "location"
    LIVE_LOCATION = "live_location"
    CONTACT = "contact"  # a shared contact card: never relayed, it is a phone number


# Kinds whose text is a caption (may be replaced when copying).
CAPTIONED = frozenset({MessageKind.PHOTO, MessageKind.VIDEO, MessageKind.DOCUMENT,
                       MessageKind.AUDIO, MessageKind.ANIMATION, MessageKind.VOICE})
# Kinds that can be part of an album (Telegram media group).
ALBUM_KINDS = frozenset({MessageKind.PHOTO, MessageKind.VIDEO, MessageKind.DOCUMENT,
                         MessageKind.AUDIO})
LOCATED = frozenset({MessageKind.LOCATION, MessageKind.LIVE_LOCATION})
# What survives a trip between Telegram and WeChat: text both ways, images and voice through
# each platform's media API. Anything else arrives as a placeholder that says what it was.
CROSS_PLATFORM = frozenset({MessageKind.TEXT, MessageKind.PHOTO, MessageKind.VOICE})
# Service kinds where the two people meet in person: SOS applies to these.
IN_PERSON_KINDS = frozenset({"on_site", "errand", "venue_lesson"})


class ParticipantRole(StrEnum):
    CUSTOMER = "customer"
    PROVIDER = "provider"
    OPERATOR = "operator"


class ConversationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DeliveryMode(StrEnum):
    COPY = "copy"  # same platform: copy the original (Telegram copyMessage: no forward origin)
    SEND = "send"  # send anew: masked text, or media through the target platform's media API
    PLACEHOLDER = "placeholder"  # the target platform cannot show this kind: say what it was
    EDIT = "edit"  # an edit that the target platform can apply in place


def check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise DomainError("error.relay.unknown_platform", platform=platform,
                          platforms=", ".join(PLATFORMS))
    return platform


def parse_kind(value: str | MessageKind) -> MessageKind:
    try:
        return MessageKind(value)
    except ValueError:
        raise DomainError("error.relay.unknown_kind", kind=str(value),
                          kinds=", ".join(k.value for k in MessageKind)) from None


def check_ref(value: str | None, name: str, *, required: bool = True) -> str | None:
    """A chat id, message id or file id: present (when required), short, printable."""
    if value is None or not str(value).strip():
        if required:
            raise DomainError("error.relay.missing_reference", field=name)
        return None
    text = str(value).strip()
    if len(text) > MAX_REF or any(ord(c) < 32 for c in text):
        raise DomainError("error.relay.invalid_reference", field=name)
    return text


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        for value in (self.latitude, self.longitude):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise DomainError("error.relay.invalid_location")
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise DomainError("error.relay.invalid_location")


@dataclass(kw_only=True)
class Participant:
    user_id: int
    role: ParticipantRole
    joined_at: datetime
    active: bool = True
    # The chat this person last wrote from in this conversation, and the language they read:
    # messages for them go there without looking them up again.
    platform: str | None = None
    chat_id: str | None = None
    locale: str | None = None
    last_location: Location | None = None
    last_location_at: datetime | None = None


@dataclass(kw_only=True)
class Conversation(Aggregate):
    id: int = 0
    order_id: int
    order_number: str
    service_kind: str | None  # the order's kind of service; None when it could not be read
    status: ConversationStatus = ConversationStatus.OPEN
    participants: list[Participant] = field(default_factory=list)
    opened_at: datetime
    order_ended_at: datetime | None = None
    close_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    disputed: bool = False

    # -- creation -------------------------------------------------------------------------

    @classmethod
    def open(cls, *, order_id: int, order_number: str, customer_id: int, provider_id: int,
             service_kind: str | None, at: datetime) -> Conversation:
        """A new conversation; call `record_opened` once storage gave it its id."""
        if customer_id == provider_id:
            raise DomainError("error.relay.same_person", user_id=customer_id)
        return cls(
            order_id=order_id, order_number=order_number, service_kind=service_kind,
            opened_at=at,
            participants=[
                Participant(user_id=customer_id, role=ParticipantRole.CUSTOMER, joined_at=at),
                Participant(user_id=provider_id, role=ParticipantRole.PROVIDER, joined_at=at),
            ],
        )

    def record_opened(self, *, reopened: bool = False, reason: str = "accepted") -> None:
        self.record(events.ConversationOpened(
            conversation_id=self.id, order_id=self.order_id, order_number=self.order_number,
            customer_id=self.customer_id, provider_id=self.provider_id or 0,
            reopened=reopened, reason=reason, opened_at=self.opened_at,
        ))

    # -- reading --------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status is ConversationStatus.OPEN

    @property
    def customer_id(self) -> int:
        return next(p.user_id for p in self.participants if p.role is ParticipantRole.CUSTOMER)

    @property
    def provider_id(self) -> int | None:
        return next((p.user_id for p in self.participants
                     if p.role is ParticipantRole.PROVIDER and p.active), None)

    @property
    def operator_ids(self) -> tuple[int, ...]:
        return tuple(p.user_id for p in self.participants
                     if p.role is ParticipantRole.OPERATOR and p.active)

    def participant(self, user_id: int) -> Participant | None:
        """The active participant `user_id`, if they take part now."""
        return next((p for p in self.participants if p.user_id == user_id and p.active), None)

    def ever_took_part(self, user_id: int) -> bool:
        return any(p.user_id == user_id for p in self.participants)

    def sender(self, user_id: int) -> Participant:
        participant = self.participant(user_id)
        if participant is None:
            raise Forbidden("error.relay.not_participant", order_number=self.order_number)
        return participant

    def recipients(self, sender_id: int) -> list[Participant]:
        return [p for p in self.participants if p.active and p.user_id != sender_id]

    def ensure_open(self) -> None:
        if not self.is_open:
            raise DomainError("error.relay.conversation_closed", order_number=self.order_number)

    def is_due(self, now: datetime) -> bool:
        return self.is_open and self.close_at is not None and self.close_at <= now

    # -- verbs ----------------------------------------------------------------------------

    def provider_accepted(self, provider_id: int, at: datetime) -> bool:
        """The order was accepted (again, after a reassignment): make sure it is open with
        `provider_id` as the provider. Returns whether anything changed."""
        if provider_id == self.customer_id:
            raise DomainError("error.relay.same_person", user_id=provider_id)
        current = self.provider_id
        if self.is_open and current == provider_id:
            return False
        for participant in self.participants:
            if participant.role is ParticipantRole.PROVIDER and participant.user_id != provider_id:
                participant.active = False
        existing = next((p for p in self.participants
                         if p.role is ParticipantRole.PROVIDER and p.user_id == provider_id), None)
        if existing is not None:
            existing.active = True
        else:
            self.participants.append(
                Participant(user_id=provider_id, role=ParticipantRole.PROVIDER, joined_at=at)
            )
        was_closed = not self.is_open
        self.status = ConversationStatus.OPEN
        self.order_ended_at = self.close_at = self.closed_at = self.close_reason = None
        if was_closed:
            self.opened_at = at
            self.record_opened(reopened=True, reason="accepted")
        return True

    def provider_withdrawn(self, at: datetime) -> None:
        """The order went to somebody else: the old provider leaves and the room closes until
        the next provider accepts."""
        leaving = self.provider_id
        for participant in self.participants:
            if participant.role is ParticipantRole.PROVIDER:
                participant.active = False
        if self.is_open:
            self._close(at, "reassigned", provider_id=leaving)

    def order_ended(self, at: datetime, close_after: timedelta) -> bool:
        """The order is over; the conversation closes `close_after` later (not in a dispute)."""
        if self.order_ended_at is not None and not self.disputed:
            return False
        self.order_ended_at = at
        self.disputed = False
        if self.is_open:
            self.close_at = at + close_after
        return True

    def dispute_opened(self, at: datetime) -> None:
        """Keep the room open for the dispute, reopening it when it had closed."""
        self.disputed = True
        self.close_at = None
        if not self.is_open:
            self.status = ConversationStatus.OPEN
            self.closed_at = self.close_reason = None
            self.opened_at = at
            self.record_opened(reopened=True, reason="dispute")

    def join(self, operator_id: int, at: datetime) -> Participant:
        self.ensure_open()
        existing = next((p for p in self.participants if p.user_id == operator_id), None)
        if existing is not None and existing.role is not ParticipantRole.OPERATOR:
            raise DomainError("error.relay.operator_is_party", order_number=self.order_number)
        if existing is not None and existing.active:
            raise DomainError("error.relay.already_joined", order_number=self.order_number)
        if existing is not None:
            existing.active, existing.joined_at = True, at
            joined = existing
        else:
            joined = Participant(user_id=operator_id, role=ParticipantRole.OPERATOR, joined_at=at)
            self.participants.append(joined)
        self.record(events.OperatorJoined(
            conversation_id=self.id, order_id=self.order_id, order_number=self.order_number,
            operator_id=operator_id, customer_id=self.customer_id,
            provider_id=self.provider_id or 0, joined_at=at,
        ))
        return joined

    def close(self, at: datetime, reason: str) -> None:
        self.ensure_open()
        self._close(at, reason, provider_id=self.provider_id)

    def _close(self, at: datetime, reason: str, *, provider_id: int | None) -> None:
        self.status = ConversationStatus.CLOSED
        self.closed_at, self.close_reason, self.close_at = at, reason, None
        self.record(events.ConversationClosed(
            conversation_id=self.id, order_id=self.order_id, order_number=self.order_number,
            customer_id=self.customer_id, provider_id=provider_id or 0,
            operator_ids=self.operator_ids, reason=reason, closed_at=at,
        ))

    def ensure_sos_allowed(self, user_id: int) -> Participant:
        """SOS is for the two parties of an active in-person order."""
        self.ensure_open()
        participant = self.sender(user_id)
        if participant.role is ParticipantRole.OPERATOR:
            raise Forbidden("error.relay.sos_parties_only")
        if self.service_kind is not None and self.service_kind not in IN_PERSON_KINDS:
            raise DomainError("error.relay.sos_not_in_person", order_number=self.order_number)
        if self.order_ended_at is not None:
            raise DomainError("error.relay.sos_order_over", order_number=self.order_number)
        return participant


@dataclass(frozen=True)
class RelayedMessage:
    """One message as the transcript keeps it: masked, never the original text."""

    conversation_id: int
    order_id: int
    sender_id: int
    sender_role: ParticipantRole
    platform: str
    chat_id: str
    message_id: str
    kind: MessageKind
    text: str | None  # masked, with placeholders (see core.relay.masking.render)
    files: tuple[str, ...]
    leak_kinds: tuple[str, ...]
    sent_at: datetime
    leak_count: int = 0
    media_group_id: str | None = None
    location: Location | None = None
    reply_to_id: int | None = None  # the transcript id of the message this one answers
    edit_of: int | None = None  # the transcript id of the message this edit changed
    id: int = 0


@dataclass(frozen=True)
class MessagePair:
    """The copy of a relayed message in one recipient's chat."""

    conversation_id: int
    relayed_message_id: int
    from_platform: str
    from_chat_id: str
    from_message_id: str
    to_user_id: int
    to_platform: str
    to_chat_id: str
    to_message_id: str
    created_at: datetime
