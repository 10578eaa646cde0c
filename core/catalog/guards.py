"""Checks other areas call before they let a provider take work."""

from __future__ import annotations

from core.catalog.model import Presence, ProviderProfile, ProviderStatus
from core.shared.errors import DomainError


def ensure_bookable(profile: ProviderProfile) -> None:
    """Refuse a suspended provider, or one on vacation, for a new order."""
    if profile.status is ProviderStatus.SUSPENDED:
        raise DomainError("error.provider.suspended", provider_id=profile.user_id)
    if profile.presence is Presence.VACATION:
        raise DomainError("error.provider.on_vacation", provider_id=profile.user_id)
