"""Events of the identity area: registration, linking, bans, roles, preferences, strikes, blocks.

No event carries a clear phone number or a link code: events are stored in the outbox as
plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.messages import Event


@dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    user_id: int
    platform: str
    external_id: str
    display_name: str
    locale: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ChannelLinked(Event):
    user_id: int
    platform: str
    external_id: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class UsersMerged(Event):
    """A fresh duplicate user gave its accounts to `into_user_id` and was retired."""

    retired_user_id: int
    into_user_id: int
    at: datetime


@dataclass(frozen=True, kw_only=True)
class PhoneVerified(Event):
    user_id: int
    phone_masked: str
    source: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class UserBanned(Event):
    user_id: int
    reason: str
    until: datetime | None
    actor_id: int | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class UserUnbanned(Event):
    user_id: int
    reason: str | None
    actor_id: int | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RoleGranted(Event):
    user_id: int
    role: str
    actor_id: int | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RoleRevoked(Event):
    user_id: int
    role: str
    actor_id: int | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class LocaleChanged(Event):
    user_id: int
    locale: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class TimezoneChanged(Event):
    user_id: int
    timezone: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class StrikeRecorded(Event):
    """A rule was broken (e.g. contact details in a relayed message); `strikes` is the new count."""

    user_id: int
    strikes: int
    reason: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class UserBlocked(Event):
    blocker_id: int
    blocked_id: int
    at: datetime


@dataclass(frozen=True, kw_only=True)
class UserUnblocked(Event):
    blocker_id: int
    blocked_id: int
    at: datetime
