"""Which conversation a message belongs to, and how each recipient gets it: pure rules.

Order of precedence for an inbound message:
1. a reply to a relayed message goes to that message's conversation, whatever is current
   (if the sender still takes part in it; a closed one is refused with its order number);
2. a part of an album goes where the album's first part went;
3. the conversation the sender chose with /chat, while it is open;
4. the only open conversation the sender has;
5. none: `NoActiveConversation`; several and no choice: `ChooseConversation`, listing them.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.relay.model import (
    CAPTIONED,
    CROSS_PLATFORM,
    Conversation,
    DeliveryMode,
    MessageKind,
    Participant,
)
from core.shared.errors import DomainError


class NoActiveConversation(DomainError):
    """The sender has no open conversation: the adapter says how chats start."""

    def __init__(self) -> None:
        super().__init__("error.relay.no_active_conversation")


class ChooseConversation(DomainError):
    """The sender has several open conversations and chose none: the adapter lists them."""

    def __init__(self, options: Sequence[Conversation]) -> None:
        super().__init__(
            "error.relay.choose_conversation",
            orders=", ".join(c.order_number for c in options),
        )
        self.options: tuple[tuple[int, str], ...] = tuple((c.order_id, c.order_number)
                                                          for c in options)


def usable(conversation: Conversation, sender_id: int) -> bool:
    return conversation.is_open and conversation.participant(sender_id) is not None


def take_reply(conversation: Conversation, sender_id: int) -> bool:
    """Whether a reply into `conversation` decides the route (refusing a closed one)."""
    if conversation.participant(sender_id) is None:
        return False  # not theirs (any more): route as if it were no reply
    conversation.ensure_open()
    return True


def choose_default(sender_id: int, selected: Conversation | None,
                   open_conversations: Sequence[Conversation]) -> Conversation:
    if selected is not None and usable(selected, sender_id):
        return selected
    mine = [c for c in open_conversations if usable(c, sender_id)]
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise NoActiveConversation()
    raise ChooseConversation(mine)


def address_for(participant: Participant, accounts: Sequence[tuple[str, str]],
                prefer_platform: str) -> tuple[str, str] | None:
    """Where to reach a recipient: the chat they last wrote from in this conversation, else
    their account on the sender's platform (so a copy is possible), else any account."""
    if participant.platform and participant.chat_id:
        if (participant.platform, participant.chat_id) in accounts:
            return participant.platform, participant.chat_id
    same = next((a for a in accounts if a[0] == prefer_platform), None)
    return same or (accounts[0] if accounts else None)


def known_address(accounts: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """Where a new participant is reached before they first write: their one account, which
    `address_for` would pick whoever writes to them. With several, the pick depends on the
    sender's platform, so nothing is fixed in advance."""
    return accounts[0] if len(accounts) == 1 else None


def delivery_mode(kind: MessageKind, from_platform: str, to_platform: str,
                  leaks: int) -> tuple[DeliveryMode, bool]:
    """How a message reaches one recipient, and whether its caption must be replaced."""
    if kind is MessageKind.CONTACT:
        return DeliveryMode.SEND, False  # the card itself is the leak: send the notice text
    if from_platform == to_platform:
        if leaks and kind is MessageKind.TEXT:
            return DeliveryMode.SEND, False
        return DeliveryMode.COPY, bool(leaks) and kind in CAPTIONED
    if kind in CROSS_PLATFORM:
        return DeliveryMode.SEND, False
    return DeliveryMode.PLACEHOLDER, False
