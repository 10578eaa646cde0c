"""Commands and queries of the identity area, and the views the queries return.

`actor_id` (inherited) is who asks: the user themselves from a chat, an operator's user id
from the admin group, or None for the console operator (admin CLI) and the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.identity.model import ChannelAccount
from core.shared.messages import Command, Query


@dataclass(frozen=True, kw_only=True)
class RegisterFromChannel(Command):
    """First (or any) contact from a chat account: get the user, creating it if needed."""

    platform: str
    external_id: str
    chat_id: str
    display_name: str = ""
    language_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class IssueLinkCode(Command):
    user_id: int


@dataclass(frozen=True, kw_only=True)
class RedeemLinkCode(Command):
    """Sent from the other platform's chat: attach that account to the code's user."""

    code: str
    platform: str
    external_id: str
    chat_id: str


@dataclass(frozen=True, kw_only=True)
class VerifyPhone(Command):
    """A phone number proven through the channel, e.g. a Telegram contact the user shared.

    `contact_external_id` is the platform user the shared contact belongs to (Telegram's
    `Contact.user_id`): only a contact of the user's own account proves their number.
    """

    user_id: int
    phone: str
    source: str = "telegram_contact"
    contact_external_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class BanUser(Command):
    user_id: int
    reason: str
    until: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class UnbanUser(Command):
    user_id: int
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class GrantRole(Command):
    user_id: int
    role: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class RevokeRole(Command):
    user_id: int
    role: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class SetLocale(Command):
    user_id: int
    locale: str


@dataclass(frozen=True, kw_only=True)
class SetTimezone(Command):
    user_id: int
    timezone: str


@dataclass(frozen=True, kw_only=True)
class BlockUser(Command):
    blocker_id: int
    blocked_id: int


@dataclass(frozen=True, kw_only=True)
class UnblockUser(Command):
    blocker_id: int
    blocked_id: int


@dataclass(frozen=True, kw_only=True)
class GetUser(Query):
    user_id: int


@dataclass(frozen=True, kw_only=True)
class GetUserByChannel(Query):
    """The user behind a chat account when `RegisterFromChannel` would write nothing for it:
    None for an account nobody holds, or one now talking from another chat. An edge asks
    this first and sends `RegisterFromChannel` only on None, so a returning person costs one
    read and no write transaction."""

    platform: str
    external_id: str
    chat_id: str


@dataclass(frozen=True, kw_only=True)
class GetUserHistory(Query):
    """The audited decisions about a user (bans, roles, links, strikes), oldest first."""

    user_id: int


@dataclass(frozen=True, kw_only=True)
class ListUsers(Query):
    role: str | None = None
    status: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class UserView:
    """A user as shown to someone: the clear phone only when the viewer is its owner."""

    id: int
    display_name: str
    roles: tuple[str, ...]
    locale: str
    timezone: str
    status: str
    ban_reason: str | None
    banned_until: datetime | None
    strikes: int
    phone_masked: str | None
    phone: str | None
    accounts: tuple[ChannelAccount, ...]
    created_at: datetime
    merged_into: int | None = None


@dataclass(frozen=True)
class UserPage:
    users: tuple[UserView, ...]
    total: int
    limit: int
    offset: int
