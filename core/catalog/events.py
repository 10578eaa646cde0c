"""Events of the catalog: onboarding decisions and provider status, for bots and other areas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.shared.messages import Event


@dataclass(frozen=True, kw_only=True)
class ApplicationSubmitted(Event):
    application_id: int
    user_id: int
    display_name: str
    category_ids: tuple[int, ...]
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ApplicationApproved(Event):
    application_id: int
    user_id: int
    operator_id: int | None
    reason: str | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ApplicationRejected(Event):
    application_id: int
    user_id: int
    operator_id: int | None
    reason: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ProviderSuspended(Event):
    provider_id: int
    operator_id: int | None
    reason: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ProviderReinstated(Event):
    provider_id: int
    operator_id: int | None
    reason: str | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class ProviderPresenceChanged(Event):
    provider_id: int
    from_presence: str
    to_presence: str
    # True when the idle sweeper took the provider offline (they get told why).
    automatic: bool
    at: datetime
